"""Helpers shared by test suites: example loading and API-server-like CRD checks."""
