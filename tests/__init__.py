"""Test suites of infercost; `tests.support` holds helpers shared between them."""
