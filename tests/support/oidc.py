"""Identity providers for the OAuth tests, all on loopback.

- `OidcProvider`: a real OpenID provider (npm `oidc-provider`, run by oidc_provider.mjs) that
  issues RFC 9068 JWT access tokens to machine clients (client_credentials), and can rotate its
  signing key. Fixtures: `oidc` (shared by a module) and `fresh_oidc` (one's own, to rotate).
- `StaticIssuer`: a tiny discovery + JWKS server of our own, for tokens the provider would never
  sign (expired on purpose, wrong issuer, made-up key ids); it counts the JWKS fetches and can
  be told to hang.
- `TestKey`: a signing key of the tests' own.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from support.httpd import serve_in_thread
from support.npm import npm_module, npm_or_skip
from support.processes import _read_line, clean_env, scratch_dir, stop_process

SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
OIDC_PROVIDER = "oidc-provider@9"

AUDIENCE = "https://gateway.test/mcp"  # the gateway, as a resource server
OTHER_AUDIENCE = "https://other.test/api"  # another resource server of the same provider
EC_AUDIENCE = "https://gateway-ec.test/mcp"  # a resource whose tokens are signed ES256
SCOPES = ("xo:read", "xo:write")


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str
    scope: str  # what it may ask for


ROBOT = Client("robot", "robot-secret-0123456789abcdef", "xo:read xo:write")
READER = Client("reader", "reader-secret-0123456789abcdef", "xo:read")
_kids = itertools.count(1)


# --- keys ----------------------------------------------------------------------------------------


@dataclass
class TestKey:
    """A private signing key with its kid: RSA (RS256) or EC P-256 (ES256)."""

    __test__ = False  # not a test class, despite the name
    algorithm: str = "RS256"
    kid: str = field(default_factory=lambda: f"test-key-{next(_kids)}")
    private: Any = None

    def __post_init__(self) -> None:
        if self.private is None:
            self.private = (
                ec.generate_private_key(ec.SECP256R1())
                if self.algorithm.startswith("ES")
                else rsa.generate_private_key(public_exponent=65537, key_size=2048)
            )

    def _jwk(self, key: Any) -> dict[str, Any]:
        codec = ECAlgorithm if self.algorithm.startswith("ES") else RSAAlgorithm
        jwk: dict[str, Any] = codec.to_jwk(key, as_dict=True)
        jwk.pop("key_ops", None)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def private_jwk(self) -> dict[str, Any]:
        return self._jwk(self.private)

    def public_jwk(self) -> dict[str, Any]:
        return self._jwk(self.private.public_key())

    def public_pem(self) -> bytes:
        pem: bytes = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, "typ": "at+jwt", **header}
        return jwt.encode(claims, self.private, algorithm=self.algorithm, headers=headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made_jwt(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A JWT assembled by hand, for what PyJWT rightly refuses to make: HS256 with a PEM public
    key as the secret, or no signature at all (secret None)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    if secret is None:
        return f"{signing_input}."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def claims_for(issuer: str, audience: str = AUDIENCE, **overrides: Any) -> dict[str, Any]:
    """RFC 9068 access-token claims, valid for 10 minutes from now unless overridden."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": "robot",
        "client_id": "robot",
        "aud": audience,
        "iat": now,
        "exp": now + 600,
        "jti": f"jti-{next(_kids)}",
        "scope": "xo:read",
    }
    claims.update(overrides)
    return claims


# --- the real provider ---------------------------------------------------------------------------


class OidcProvider:
    """oidc-provider in a node process of its own; stopped with `stop()` (the fixtures do)."""

    def __init__(self, node_modules: Path, directory: Path) -> None:
        self.node_modules = node_modules
        self.directory = directory
        self.keys = [TestKey("RS256"), TestKey("ES256")]
        self.process: subprocess.Popen[str] | None = None
        self.issuer = ""
        self._start(port=0)

    @property
    def signing_key(self) -> TestKey:
        """The key that signs the RS256 tokens now."""
        return self.keys[0]

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def token(
        self,
        client_id: str,
        secret: str,
        *,
        scope: str | None = None,
        resource: str | None = AUDIENCE,
    ) -> str:
        """An access token from POST /token (client_credentials, Basic client authentication)."""
        form = {"grant_type": "client_credentials"}
        if scope is not None:
            form["scope"] = scope
        if resource is not None:
            form["resource"] = resource
        response = httpx2.post(
            f"{self.issuer}/token",
            data=form,
            auth=(client_id, secret),
            timeout=10,
            trust_env=False,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def token_for(self, client: Client, **options: Any) -> str:
        return self.token(client.client_id, client.secret, **options)

    def rotate(self) -> TestKey:
        """Restart with a new RSA signing key (new kid) in place of the old one, on the same
        issuer URL: tokens signed before no longer match any published key."""
        port = int(self.issuer.rsplit(":", 1)[1])
        self.stop()
        self.keys = [TestKey("RS256"), self.keys[1]]
        self._start(port=port)
        return self.signing_key

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def _start(self, port: int) -> None:
        config = self.directory / "provider.json"
        config.write_text(json.dumps(self._config(port)))
        stderr = (self.directory / "provider.log").open("a")
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), str(config)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=clean_env(NODE_PATH=str(self.node_modules), NODE_NO_WARNINGS="1"),
        )
        stderr.close()
        line = _read_line(self.process, 30)
        if not line.startswith("listening on "):
            log = (self.directory / "provider.log").read_text()
            self.stop()
            raise RuntimeError(f"oidc-provider did not start: {line!r}\n{log[-2000:]}")
        self.issuer = line.split()[-1]

    def _config(self, port: int) -> dict[str, Any]:
        return {
            "port": port,
            "jwks": {"keys": [key.private_jwk() for key in self.keys]},
            "scopes": list(SCOPES),
            "clients": [
                {"client_id": c.client_id, "client_secret": c.secret, "scope": c.scope}
                for c in (ROBOT, READER)
            ],
            "resources": {
                AUDIENCE: {"scope": " ".join(SCOPES), "alg": "RS256"},
                OTHER_AUDIENCE: {"scope": " ".join(SCOPES), "alg": "RS256"},
                EC_AUDIENCE: {"scope": " ".join(SCOPES), "alg": "ES256"},
            },
        }


@contextlib.contextmanager
def running_provider(node_modules: Path) -> Iterator[OidcProvider]:
    with scratch_dir("xo-mcp-oidc-") as directory:
        provider = OidcProvider(node_modules, directory)
        try:
            yield provider
        finally:
            provider.stop()


@pytest.fixture(scope="session")
def oidc_node_modules() -> Path:
    """node_modules holding oidc-provider (installed once into the npm cache); skipped or, in
    CI, failed when npm is unreachable, as the `npm` fixture."""
    return npm_or_skip(lambda: npm_module(OIDC_PROVIDER, "oidc-provider").parent)


@pytest.fixture(scope="module")
def oidc(oidc_node_modules: Path) -> Iterator[OidcProvider]:
    """A running provider shared by a module's tests (which must not rotate it)."""
    with running_provider(oidc_node_modules) as provider:
        yield provider


@pytest.fixture
def fresh_oidc(oidc_node_modules: Path) -> Iterator[OidcProvider]:
    """A running provider of the test's own, free to rotate."""
    with running_provider(oidc_node_modules) as provider:
        yield provider


# --- a static issuer of our own ------------------------------------------------------------------


class StaticIssuer(ThreadingHTTPServer):
    """Discovery and JWKS on loopback for `keys` (over TLS when given a server context);
    `jwks_fetches` counts GET /jwks; with `hang` set, it accepts connections and never answers;
    `delay_s` slows every answer; `claimed_issuer` replaces the issuer its discovery document
    names; `extra_jwks` are published as they are, after the keys."""

    daemon_threads = True

    def __init__(self, keys: list[TestKey], tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _IssuerHandler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.keys = keys
        self.jwks_fetches = 0
        self.claimed_issuer: str | None = None
        self.delay_s = 0.0
        self.extra_jwks: list[dict[str, Any]] = []
        self.hang = threading.Event()
        self.released = threading.Event()  # ends the hanging handlers at shutdown
        self.lock = threading.Lock()

    @property
    def issuer(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.claimed_issuer or self.issuer, "jwks_uri": f"{self.issuer}/jwks"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys] + self.extra_jwks}

    def shutdown(self) -> None:
        self.released.set()
        super().shutdown()


class _IssuerHandler(BaseHTTPRequestHandler):
    server: StaticIssuer

    def do_GET(self) -> None:
        if self.server.hang.is_set():
            self.server.released.wait(30)
            return
        time.sleep(self.server.delay_s)
        if self.path == "/.well-known/openid-configuration":
            self._json(self.server.discovery())
        elif self.path == "/jwks":
            with self.server.lock:
                self.server.jwks_fetches += 1
            self._json(self.server.jwks())
        else:
            self.send_error(404)

    def _json(self, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def static_issuer(*keys: TestKey, tls: ssl.SSLContext | None = None) -> Iterator[StaticIssuer]:
    with serve_in_thread(StaticIssuer(list(keys), tls), poll_interval_s=0.02) as server:
        yield server


def closed_port_url() -> str:
    """An http:// URL on loopback where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
