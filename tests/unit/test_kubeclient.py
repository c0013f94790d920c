"""kubeclient's pure parts: Retry-After parsing and the TLS context built from credentials."""

from __future__ import annotations

import base64
import datetime
import email.utils
from pathlib import Path

import pytest
from tests.support.tls import make_pki

from infercost.kubeclient import Credentials, CredentialsError, InClusterCredentials, ssl_context
from infercost.kubeclient.transport import retry_after

pytestmark = pytest.mark.unit


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("5") == 5.0
    assert retry_after("0") == 0.0
    assert retry_after(None) is None
    assert retry_after("soon") is None
    later = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=120)
    seconds = retry_after(email.utils.format_datetime(later, usegmt=True))
    assert seconds is not None
    assert 60 < seconds <= 120
    past = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)
    assert retry_after(email.utils.format_datetime(past, usegmt=True)) == 0.0


def test_tls_context_from_kubeconfig_data_verifies_and_presents_the_client_cert(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path)

    def data(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    context = ssl_context(
        Credentials(
            server="https://127.0.0.1:6443",
            ca_data=data(pki.ca),
            certificate_data=data(pki.client_cert),
            private_key_data=data(pki.client_key),
        )
    )
    assert context is not False
    assert context.check_hostname  # type: ignore[union-attr]
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "sandbox-ca"),),)]  # type: ignore[union-attr]
    assert ssl_context(Credentials(server="http://127.0.0.1:8080")) is False
    assert ssl_context(Credentials(server="https://x", insecure=True)) is False


def test_in_cluster_without_a_token_file_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("x")
    environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(CredentialsError, match="token file"):
        InClusterCredentials(
            token_file=str(tmp_path / "token"), ca_file=str(tmp_path / "ca.crt"), environ=environ
        )
