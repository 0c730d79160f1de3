"""A site whose certificate is refused gets TLS advice, not "did not answer in time"."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from billing_sync.connectwise.client import ConnectWiseClient
from billing_sync.connectwise.errors import CertificateRefused, ConnectionFailed
from tests.connectwise.conftest import CREDENTIALS


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cw.example.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def untrusted_site(tmp_path):
    """An HTTPS server on loopback whose certificate nobody trusts."""
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(("127.0.0.1", 0), _Answer)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_an_untrusted_certificate_gets_certificate_advice(untrusted_site):
    credentials = dataclasses.replace(CREDENTIALS, site=untrusted_site)
    client = ConnectWiseClient(
        credentials, timeout=5, max_retries=0, allow_private_hosts=True, codebase="v4_6_release/"
    )
    with client, pytest.raises(CertificateRefused) as caught:
        client.system_info()
    assert "certificate not accepted (self-signed certificate)" in str(caught.value)
    assert "certificate" in caught.value.advice and "did not answer" not in caught.value.advice
    assert "Retrying will not help" in caught.value.advice
    assert isinstance(caught.value, ConnectionFailed)  # to the engine, a connection that failed
