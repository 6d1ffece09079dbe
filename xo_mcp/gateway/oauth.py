"""The HTTP port as an OAuth 2.1 resource server: verifying the JWT access tokens (RFC 9068)
that the team's identity provider issues, against its published keys (JWKS).

Only the verification lives here; the HTTP port decides which bearer tokens are JWTs
(`JwtVerifier.looks_like_jwt`) and turns a `TokenRefused` into its answer.

Keys are fetched lazily (OIDC discovery gives the JWKS address unless it is configured) and
kept, parsed, per key id. A token signed with a key id we do not know makes us fetch the JWKS
again, so the provider can rotate its keys without a gateway restart; such fetches are shared
by concurrent requests and rate-limited, so that tokens with made-up key ids cannot turn the
gateway into a load generator against the identity provider.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import json
import math
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import (
    Algorithm,
    ECAlgorithm,
    OKPAlgorithm,
    RSAAlgorithm,
    get_default_algorithms,
)
from starlette.authentication import AuthenticationError

from xo_mcp import logs

PublicKey = RSAPublicKey | EllipticCurvePublicKey | Ed25519PublicKey | Ed448PublicKey

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}  # by curve
# Asymmetric only: with a symmetric algorithm the "key" would be whatever the token's header
# makes us pick, e.g. the issuer's public key used as an HMAC secret.
ALGORITHMS = RSA_ALGORITHMS | frozenset(EC_ALGORITHMS.values()) | {"EdDSA"}

# At most one JWKS fetch per 10 s: a flood of tokens with made-up key ids costs the identity
# provider 6 requests a minute, while a real rotation (or the provider coming back after an
# outage) is noticed within 10 s even right after another fetch, and at once otherwise.
DEFAULT_REFETCH_MIN_INTERVAL_S = 10.0
# A whole fetch (discovery + JWKS, connect to last byte) fits in this, or the request that
# waits for it is answered 503 rather than held: a slow identity provider must not hang us.
DEFAULT_FETCH_TIMEOUT_S = 4.0
# Keys older than this are re-fetched in the background (the cached ones serve meanwhile),
# so that a key the provider withdrew (compromised) stops verifying without a restart.
KEYS_MAX_AGE_S = 3600.0
# A verified token is trusted again for this long (and never past its exp): the same token
# comes with every request of a client, and its signature check is most of the auth cost.
VERIFIED_TTL_S = 30.0
VERIFIED_MAX = 4096
MAX_DOCUMENT_BYTES = 256 * 1024  # a JWKS is a few KiB; anything bigger is not one
MAX_TOKEN_CHARS = 16 * 1024  # bounds the base64 and JSON work done before the signature check

# The compact form, base64url alphabet only: after this, decoding a segment cannot meet junk.
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# PyJWT's signature algorithms, but not its compact-form parser (jwt.PyJWS): that one spends
# about 35 µs of its 55 µs per RS256 token re-checking the base64url alphabet in Python, which
# _JWT_SHAPE has done in 0.2 µs; the rest of its work (header, crit) is done here.
_SIGNERS: dict[str, Algorithm] = {
    name: signer for name, signer in get_default_algorithms().items() if name in ALGORITHMS
}


@dataclass(frozen=True)
class OAuthSettings:
    issuer: str  # exactly as in the tokens' `iss` and the discovery document's `issuer`
    audience: str  # this resource server, as in the tokens' `aud` (RFC 8707 resource)
    jwks_url: str | None = None  # else OIDC discovery: {issuer}/.well-known/openid-configuration
    ca_bundle: Path | None = None  # PEM trusted for the issuer and JWKS over https
    required_scopes: tuple[str, ...] = ()
    leeway_s: float = 30.0  # clock skew tolerated on exp, nbf and iat


class TokenRefused(AuthenticationError):
    """A bearer token we do not accept, with what the HTTP answer needs (RFC 6750 §3.1).

    `reason` is short and safe to log or send: it never contains the token. `status` is 401
    (`invalid_token`), 403 (`insufficient_scope`) or 503 (`temporarily_unavailable`): when the
    identity provider cannot be reached the token may well be valid, and a 401 would send the
    client off to obtain a new token (or prompt a human) for a fault that is ours; 503 says
    "retry later" and shows up as an outage, not as a wave of bad credentials.
    """

    def __init__(self, reason: str, *, status: int = 401, error: str = "invalid_token") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.error = error

    @classmethod
    def insufficient_scope(cls, reason: str) -> TokenRefused:
        return cls(reason, status=403, error="insufficient_scope")

    @classmethod
    def unavailable(cls, reason: str) -> TokenRefused:
        return cls(
            f"cannot verify tokens now: {reason}", status=503, error="temporarily_unavailable"
        )


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    client_id: str | None  # `client_id` (RFC 9068), else `azp`
    issuer: str
    scopes: tuple[str, ...]
    expires_at: int
    audience: tuple[str, ...]
    claims: Mapping[str, Any] = field(repr=False, compare=False, hash=False)


@dataclass(frozen=True)
class _Key:
    key: PublicKey
    algorithms: frozenset[str]  # the ones this key may verify (its `alg`, else its type's)


class _FetchFailed(Exception):
    pass


class JwtVerifier:
    """Verifies the access tokens of one issuer for one audience; one per HTTP port, used from
    its event loop. `clock` (wall time) is what exp, nbf and iat are compared with."""

    def __init__(
        self,
        settings: OAuthSettings,
        *,
        clock: Callable[[], float] = time.time,
        refetch_min_interval_s: float = DEFAULT_REFETCH_MIN_INTERVAL_S,
        fetch_timeout_s: float = DEFAULT_FETCH_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._refetch_interval_s = refetch_min_interval_s
        self._fetch_timeout_s = fetch_timeout_s
        self._verify_tls: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(settings.ca_bundle))
            if settings.ca_bundle
            else True
        )
        self._jwks_url = settings.jwks_url  # from discovery when not configured
        self._keys: dict[str | None, _Key] | None = None  # None: never fetched
        self._keys_at = 0.0  # time.monotonic() of the last successful fetch
        self._last_attempt: float | None = None
        self._last_failure: str | None = None  # of the last attempt, None if it worked
        self._fetching: asyncio.Task[None] | None = None
        self._verified: collections.OrderedDict[str, tuple[VerifiedToken, float]] = (
            collections.OrderedDict()
        )

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        """Three base64url segments (the last may be empty): cheap, to tell a JWT from a
        static bearer token before any decoding."""
        return len(token) <= MAX_TOKEN_CHARS and _JWT_SHAPE.fullmatch(token) is not None

    async def verify(self, token: str) -> VerifiedToken:
        """The token's verified identity and scopes; TokenRefused otherwise."""
        remembered = self._remembered(token)
        if remembered is not None:
            return remembered
        verified = await self._verify(token)
        self._remember(token, verified)
        return verified

    def _remembered(self, token: str) -> VerifiedToken | None:
        """A token verified a moment ago, still within its lifetime: a client sends the same
        token with every request, and a signature check is most of a request's auth cost."""
        found = self._verified.get(token)
        if found is None or time.monotonic() - self._keys_at > KEYS_MAX_AGE_S:
            return None  # keys due for a refresh: verify in full, which starts it
        verified, at = found
        fresh = time.monotonic() - at < VERIFIED_TTL_S
        if fresh and self._clock() <= verified.expires_at + self.settings.leeway_s:
            return verified
        del self._verified[token]
        return None

    def _remember(self, token: str, verified: VerifiedToken) -> None:
        self._verified[token] = (verified, time.monotonic())
        while len(self._verified) > VERIFIED_MAX:
            self._verified.popitem(last=False)

    async def _verify(self, token: str) -> VerifiedToken:
        if not self.looks_like_jwt(token):
            raise TokenRefused("malformed token: not a JWT")
        header_segment, payload_segment, signature_segment = token.split(".")
        header = _header(header_segment)
        algorithm = _algorithm(header)
        key = await self._key_for(header.get("kid"), algorithm)
        signing_input = token[: len(header_segment) + 1 + len(payload_segment)]
        if not _SIGNERS[algorithm].verify(
            signing_input.encode(), key.key, _decoded(signature_segment, "signature")
        ):
            raise TokenRefused("bad signature")
        return self._accepted(_json_object(payload_segment, "payload"))

    async def prefetch(self) -> None:
        """Fetch the keys now (at start-up) rather than on the first token; TokenRefused (503)
        when the identity provider cannot be reached."""
        await self._refresh()
        if self._keys is None:
            raise TokenRefused.unavailable(self._last_failure or "no keys yet")

    # --- keys ------------------------------------------------------------------------------

    async def _key_for(self, kid: str | None, algorithm: str) -> _Key:
        first_use = self._keys is None
        if first_use:
            await self._refresh()
        elif time.monotonic() - self._keys_at > KEYS_MAX_AGE_S:
            self._start_fetch()  # in the background: the cached keys serve meanwhile
        key = self._find(kid, algorithm)
        if key is None and not first_use:  # maybe the provider rotated its keys since
            await self._refresh()
            key = self._find(kid, algorithm)
        if key is None:
            raise self._no_key(kid, algorithm)
        return key

    def _find(self, kid: str | None, algorithm: str) -> _Key | None:
        if self._keys is None:
            return None
        if kid is None and len(self._keys) == 1:
            # No kid: acceptable only when the provider publishes a single key.
            kid = next(iter(self._keys))
        key = self._keys.get(kid)
        return key if key is not None and algorithm in key.algorithms else None

    def _no_key(self, kid: str | None, algorithm: str) -> TokenRefused:
        if self._keys is not None and kid is not None and kid in self._keys:
            return TokenRefused(f"key {_shown(kid)} is not for {algorithm}")
        if self._last_failure is not None:  # we could not look: the token may be fine
            return TokenRefused.unavailable(self._last_failure)
        if kid is None:
            return TokenRefused("token has no kid and the issuer publishes several keys")
        return TokenRefused(f"unknown signing key (kid {_shown(kid)}) after a JWKS refresh")

    async def _refresh(self) -> None:
        """Fetch the JWKS unless rate-limited; concurrent callers share one fetch."""
        self._start_fetch()
        fetching = self._fetching
        if fetching is not None:
            # shield: a caller giving up (its request cancelled) must not cancel the others'.
            await asyncio.shield(fetching)

    def _start_fetch(self) -> None:
        loop = asyncio.get_running_loop()
        if self._fetching is not None and self._fetching.get_loop() is loop:
            return  # one under way already
        now = time.monotonic()
        if self._last_attempt is not None and now - self._last_attempt < self._refetch_interval_s:
            return
        self._last_attempt = now
        self._fetching = loop.create_task(self._fetch())
        self._fetching.add_done_callback(self._fetched)

    def _fetched(self, task: asyncio.Task[None]) -> None:
        if self._fetching is task:
            self._fetching = None

    async def _fetch(self) -> None:
        """One fetch; the outcome lands in the verifier's state, never as an exception."""
        try:
            async with asyncio.timeout(self._fetch_timeout_s):
                keys = await self._download_keys()
        except (TimeoutError, httpx2.TimeoutException):
            self._failed(f"issuer unreachable (no answer within {self._fetch_timeout_s:g} s)")
        except (httpx2.HTTPError, httpx2.InvalidURL) as error:
            self._failed(_transport_failure(error))
        except _FetchFailed as error:
            self._failed(str(error))
        else:
            self._keys, self._keys_at, self._last_failure = keys, time.monotonic(), None
            self._verified.clear()  # a withdrawn key stops verifying at once

    def _failed(self, reason: str) -> None:
        logs.log(
            f"OAuth: fetching the signing keys of {self.settings.issuer} failed: {reason}",
            level="warning",
            component="gateway",
        )
        self._last_failure = reason
        if self.settings.jwks_url is None:
            self._jwks_url = None  # discover again next time: the address may have moved

    async def _download_keys(self) -> dict[str | None, _Key]:
        async with httpx2.AsyncClient(
            timeout=self._fetch_timeout_s,
            verify=self._verify_tls,
            trust_env=True,  # HTTPS_PROXY/NO_PROXY: the provider may be behind a proxy
            follow_redirects=False,
        ) as http:
            if self._jwks_url is None:
                self._jwks_url = await self._discover(http)
            return _parse_jwks(await _get_json(http, self._jwks_url))

    async def _discover(self, http: httpx2.AsyncClient) -> str:
        issuer = self.settings.issuer
        document = await _get_json(http, f"{issuer.rstrip('/')}/.well-known/openid-configuration")
        # OpenID Connect Discovery §4.3: the document must name the issuer we asked.
        if document.get("issuer") != issuer:
            raise _FetchFailed(f"discovery names issuer {_shown(document.get('issuer'))}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise _FetchFailed("discovery document has no jwks_uri")
        return jwks_uri

    # --- claims ----------------------------------------------------------------------------

    def _accepted(self, claims: dict[str, Any]) -> VerifiedToken:
        settings = self.settings
        if claims.get("iss") != settings.issuer:
            raise TokenRefused(f"wrong issuer {_shown(claims.get('iss'))}")
        audience = _strings(claims.get("aud"))
        if settings.audience not in audience:
            raise TokenRefused(f"wrong audience {_shown(list(audience))}")
        self._check_times(claims)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenRefused("token has no subject (sub)")
        scopes = _scopes(claims)
        missing = [scope for scope in settings.required_scopes if scope not in scopes]
        if missing:
            raise TokenRefused.insufficient_scope(f"missing scope {' '.join(missing)}")
        client_id = claims.get("client_id", claims.get("azp"))
        return VerifiedToken(
            subject=subject,
            client_id=client_id if isinstance(client_id, str) else None,
            issuer=settings.issuer,
            scopes=scopes,
            expires_at=int(claims["exp"]),
            audience=audience,
            claims=MappingProxyType(claims),
        )

    def _check_times(self, claims: dict[str, Any]) -> None:
        now, leeway = self._clock(), self.settings.leeway_s
        expires = _number(claims, "exp", required=True)
        if expires is not None and now > expires + leeway:
            raise TokenRefused("token expired")
        not_before = _number(claims, "nbf")
        if not_before is not None and now + leeway < not_before:
            raise TokenRefused("token not yet valid (nbf in the future)")
        issued = _number(claims, "iat")
        if issued is not None and now + leeway < issued:
            raise TokenRefused("token not yet valid (iat in the future)")


# --- decoding ----------------------------------------------------------------------------------


def _decoded(segment: str, what: str) -> bytes:
    """A segment that passed _JWT_SHAPE: only its length can still be wrong."""
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenRefused(f"malformed token: {what} is not base64url") from None


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_decoded(segment, what))
    except (ValueError, RecursionError):
        raise TokenRefused(f"malformed token: {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenRefused(f"malformed token: {what} is not a JSON object")
    return value


def _header(segment: str) -> dict[str, Any]:
    header = _json_object(segment, "header")
    if not isinstance(header.get("kid", ""), str):
        raise TokenRefused("malformed token: kid is not a string")
    if "crit" in header:  # RFC 7515 §4.1.11: we understand no extension, so we must refuse
        raise TokenRefused("unsupported critical header parameter (crit)")
    return header


def _algorithm(header: dict[str, Any]) -> str:
    """The header's algorithm, checked before any key is looked up."""
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or not algorithm:
        raise TokenRefused("malformed token: no alg")
    if algorithm.lower() == "none":
        raise TokenRefused("unsigned token (alg none) refused")
    if algorithm.upper().startswith("HS"):
        raise TokenRefused(f"symmetric algorithm {_shown(algorithm)} refused")
    if algorithm not in ALGORITHMS:
        raise TokenRefused(f"algorithm {_shown(algorithm)} not allowed")
    return algorithm


def _number(claims: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    # bool is an int to Python; json.loads reads NaN and Infinity, which compare as "never".
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenRefused(f"malformed token: {name} is not a number")
    return float(value)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


def _scopes(claims: dict[str, Any]) -> tuple[str, ...]:
    """`scope` (RFC 9068: space-separated) or, as some providers write it, `scp` (a list)."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return tuple(scope.split())
    scp = claims.get("scp")
    return tuple(scp.split()) if isinstance(scp, str) else _strings(scp)


def _shown(value: Any) -> str:
    """A token-supplied value fit for a reason: repr'd (no control characters), short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- fetching ----------------------------------------------------------------------------------


async def _get_json(http: httpx2.AsyncClient, url: str) -> dict[str, Any]:
    async with http.stream("GET", url, headers={"Accept": "application/json"}) as response:
        if response.status_code != 200:
            raise _FetchFailed(f"{url} answered HTTP {response.status_code}")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise _FetchFailed(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise _FetchFailed(f"{url} did not answer JSON") from None
    if not isinstance(document, dict):
        raise _FetchFailed(f"{url} did not answer a JSON object")
    return document


def _transport_failure(error: Exception) -> str:
    if "CERTIFICATE_VERIFY_FAILED" in str(error):  # the commonest set-up mistake: say so
        return "issuer's TLS certificate is not trusted (ca_bundle?)"
    return f"issuer unreachable ({type(error).__name__})"


def _parse_jwks(document: dict[str, Any]) -> dict[str | None, _Key]:
    """The usable signing keys by kid; unusable ones are skipped (logged), not fatal."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise _FetchFailed("JWKS has no keys list")
    keys: dict[str | None, _Key] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = _parse_jwk(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as error:
            shown = _shown(entry.get("kid"))
            logs.log(
                f"OAuth: skipping JWKS key {shown}: {error}", level="warning", component="gateway"
            )
            continue
        if key is not None:
            keys[entry.get("kid") if isinstance(entry.get("kid"), str) else None] = key
    return keys


def _parse_jwk(entry: dict[str, Any]) -> _Key | None:
    if "d" in entry:  # a private key published by mistake: not ours to use
        raise ValueError("private key material in a public JWKS")
    parsed = _public_key(entry)
    if parsed is None:
        return None
    key, usable = parsed
    declared = entry.get("alg")
    if isinstance(declared, str):
        usable = usable & {declared}
    return _Key(key, usable) if usable else None


def _public_key(entry: dict[str, Any]) -> tuple[PublicKey, frozenset[str]] | None:
    """The key and the algorithms its type allows; None for symmetric ("oct") and other types,
    never keys to verify with."""
    kty = entry.get("kty")
    if kty == "RSA":
        rsa_key = RSAAlgorithm.from_jwk(entry)
        if not isinstance(rsa_key, RSAPublicKey) or rsa_key.key_size < 2048:
            raise ValueError("not an RSA public key of 2048 bits or more")
        return rsa_key, RSA_ALGORITHMS
    if kty == "EC":
        ec_key = ECAlgorithm.from_jwk(entry)
        algorithm = EC_ALGORITHMS.get(ec_key.curve.name)
        if not isinstance(ec_key, EllipticCurvePublicKey) or algorithm is None:
            raise ValueError("not a P-256, P-384 or P-521 public key")
        return ec_key, frozenset({algorithm})
    if kty == "OKP":
        okp_key = OKPAlgorithm.from_jwk(entry)
        if not isinstance(okp_key, Ed25519PublicKey | Ed448PublicKey):
            raise ValueError("not an Ed25519 or Ed448 public key")
        return okp_key, frozenset({"EdDSA"})
    return None
