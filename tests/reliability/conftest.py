"""The integration fixtures (sandbox API server over real HTTP, the embedded operator),
shared with the fault tests here."""

from tests.integration.conftest import api, start_operator

__all__ = ["api", "start_operator"]
