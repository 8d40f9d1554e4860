"""TLS on every listener from the configuration: HTTPS, WSS and raw TCP over TLS,
with a certificate the test makes for 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from homer.client import HomerClient
from homer.errors import InvalidInput
from homer.testing.server import TestServer, replace_config, running_homer


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest_asyncio.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[TestServer, ssl.SSLContext]]:
    cert, key = make_certificate(tmp_path)

    def configure(config: Any) -> Any:
        return replace_config(
            config, server={"tls_cert": str(cert), "tls_key": str(key), "tcp_port": 0}
        )

    trusting = ssl.create_default_context(cafile=str(cert))
    async with running_homer(tmp_path / "data", configure=configure) as server:
        yield server, trusting


async def test_https_and_wss_with_the_sdk(tls_server: tuple[TestServer, ssl.SSLContext]) -> None:
    server, trusting = tls_server
    assert server.url.startswith("https://")
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + "/healthz", ssl=trusting) as response:
            assert response.status == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await http.get(server.url + "/healthz")  # not trusted by default
    ann = HomerClient(server.url, token=await server.token("ann"), ssl_context=trusting)
    await ann.connect()
    try:
        await ann.create("vault")
        ack = await ann.send("vault", "over TLS")
        assert ack["seq"] >= 1
    finally:
        await ann.close()


async def test_raw_tcp_over_tls(tls_server: tuple[TestServer, ssl.SSLContext]) -> None:
    server, trusting = tls_server
    assert server.tcp_port is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.tcp_port, ssl=trusting, server_hostname="127.0.0.1"
    )
    try:
        token = await server.token("bob")
        writer.write(msgspec.json.encode({"op": "hello", "rid": 1, "token": token}) + b"\n")
        async with asyncio.timeout(5):
            reply = msgspec.json.decode(await reader.readline())
        assert (reply["rid"], reply["body"]["user"]["name"]) == (1, "bob")
    finally:
        writer.close()


async def test_plain_text_on_a_tls_port_gets_nowhere(
    tls_server: tuple[TestServer, ssl.SSLContext],
) -> None:
    server, _ = tls_server
    reader, writer = await asyncio.open_connection("127.0.0.1", server.running.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        async with asyncio.timeout(5):
            answer = await reader.read()
        assert b"200" not in answer
    finally:
        writer.close()


async def test_a_missing_certificate_is_a_clear_error(tmp_path: Path) -> None:
    def configure(config: Any) -> Any:
        return replace_config(
            config, server={"tls_cert": "missing.pem", "tls_key": "missing-key.pem"}
        )

    with pytest.raises(InvalidInput, match="cannot load the TLS certificate missing.pem"):
        async with running_homer(tmp_path, configure=configure):
            pass
