"""HTTPS to XO: verified by default, a private CA through XO_CA_BUNDLE, a loud opt-out.

XO is the simulator behind a TLS-terminating forwarder on loopback whose certificate comes
from a throwaway CA made in the test.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support.processes import Sim, clean_env
from worker.kit import call, run_worker, worker

from xo_mcp.wire.exits import EXIT_UNAVAILABLE

pytestmark = pytest.mark.anyio


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate for 127.0.0.1, server key), all PEM."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("xo-mcp test CA"))
        .issuer_name(_name("xo-mcp test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class TlsForwarder:
    """Terminates TLS on 127.0.0.1 and forwards the plain bytes to the simulator."""

    def __init__(self, context: ssl.SSLContext, target: tuple[str, int]) -> None:
        self.context = context
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):  # the worker refused our certificate: as it should
            raw.close()
            return
        upstream = socket.create_connection(self.target)
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join(5)
        client.close()
        upstream.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        self.accepting.join(5)
        for thread in self.threads:
            thread.join(5)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_xo(sim: Sim, certificates: tuple[Path, Path, Path]) -> Iterator[str]:
    _, certificate, key = certificates
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    host, port = sim.url.removeprefix("http://").rsplit(":", 1)
    forwarder = TlsForwarder(context, (host, int(port)))
    yield f"https://127.0.0.1:{forwarder.port}"
    forwarder.close()


def test_unknown_ca_is_refused_with_a_hint(https_xo: str, sim: Sim) -> None:
    result = run_worker(clean_env(XO_URL=https_xo, XO_TOKEN=sim.token))
    assert result.returncode == EXIT_UNAVAILABLE
    assert f"Unable to reach XO server at {https_xo} to verify MCP status" in result.stderr
    assert "certificate" in result.stderr and "XO_CA_BUNDLE" in result.stderr


async def test_private_ca_bundle(
    https_xo: str, sim: Sim, certificates: tuple[Path, Path, Path]
) -> None:
    env = clean_env(XO_URL=https_xo, XO_TOKEN=sim.token, XO_CA_BUNDLE=str(certificates[0]))
    async with worker(env) as client:
        assert await call(client, "check_connection") == (
            "Connection to XO server successful.",
            False,
        )
        table, is_error = await call(client, "vms_query", {"operation": "GetVms", "limit": 1})
        assert not is_error and table.startswith("| name_label |")


def test_the_bundle_does_not_excuse_a_wrong_host_name(
    https_xo: str, sim: Sim, certificates: tuple[Path, Path, Path]
) -> None:
    by_name = https_xo.replace("127.0.0.1", "localhost")  # the certificate names 127.0.0.1 only
    result = run_worker(
        clean_env(XO_URL=by_name, XO_TOKEN=sim.token, XO_CA_BUNDLE=str(certificates[0]))
    )
    assert result.returncode == EXIT_UNAVAILABLE
    assert "certificate" in result.stderr.lower()


async def test_insecure_opt_out_works_and_says_so(https_xo: str, sim: Sim, tmp_path: Path) -> None:
    stderr = tmp_path / "stderr"
    env = clean_env(XO_URL=https_xo, XO_TOKEN=sim.token, XO_TLS_INSECURE="1")
    async with worker(env, stderr=stderr) as client:
        assert (await call(client, "check_connection"))[1] is False
    warning = stderr.read_text(encoding="utf-8")
    assert "WARNING: XO_TLS_INSECURE=1: XO's TLS certificate is NOT verified" in warning
