"""The OAuth resource-server token verifier against a real OpenID provider (npm oidc-provider,
fixtures `oidc` / `fresh_oidc`), plus a static issuer of our own for the tokens no provider
would issue. Every refusal is checked for its status, error and reason, and for never
repeating the token."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from support.httpd import RecordingProxy, serve_in_thread
from support.oidc import (
    AUDIENCE,
    EC_AUDIENCE,
    OTHER_AUDIENCE,
    READER,
    ROBOT,
    OidcProvider,
    StaticIssuer,
    TestKey,
    b64url,
    claims_for,
    closed_port_url,
    hand_made_jwt,
    static_issuer,
)
from worker.test_integration_tls import make_certificates

from xo_mcp.gateway import oauth
from xo_mcp.gateway.oauth import JwtVerifier, OAuthSettings, TokenRefused, VerifiedToken

pytestmark = pytest.mark.anyio

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_from_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verifier honours the proxy variables; the tests set them only where they mean to."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def key() -> TestKey:
    return TestKey("RS256")


@pytest.fixture
def issuer(key: TestKey) -> Iterator[StaticIssuer]:
    with static_issuer(key) as server:
        yield server


def verifier_for(
    provider: OidcProvider | StaticIssuer,
    audience: str = AUDIENCE,
    *,
    jwks_url: str | None = None,
    ca_bundle: Path | None = None,
    required_scopes: tuple[str, ...] = (),
    clock: Callable[[], float] = time.time,
    refetch_min_interval_s: float = oauth.DEFAULT_REFETCH_MIN_INTERVAL_S,
    fetch_timeout_s: float = oauth.DEFAULT_FETCH_TIMEOUT_S,
) -> JwtVerifier:
    settings = OAuthSettings(
        provider.issuer,
        audience,
        jwks_url=jwks_url,
        ca_bundle=ca_bundle,
        required_scopes=required_scopes,
    )
    return JwtVerifier(
        settings,
        clock=clock,
        refetch_min_interval_s=refetch_min_interval_s,
        fetch_timeout_s=fetch_timeout_s,
    )


def segment(value: object) -> str:
    return b64url(json.dumps(value).encode())


def made_up_kids(issuer: StaticIssuer, count: int) -> list[str]:
    """Tokens signed by one key of ours under `count` key ids the issuer never published."""
    stranger = TestKey()
    return [
        TestKey(kid=f"made-up-{n}", private=stranger.private).sign(claims_for(issuer.issuer))
        for n in range(count)
    ]


async def refused(verifier: JwtVerifier, token: str) -> TokenRefused:
    with pytest.raises(TokenRefused) as caught:
        await verifier.verify(token)
    error = caught.value
    if token:
        assert token not in error.reason and token not in str(error)
    return error


async def refused_401(verifier: JwtVerifier, token: str, reason: str) -> TokenRefused:
    error = await refused(verifier, token)
    assert (error.status, error.error) == (401, "invalid_token"), error.reason
    assert reason in error.reason
    return error


# --- real provider tokens ------------------------------------------------------------------------


@pytest.mark.parametrize("jwks", ["discovery", "configured"])
async def test_a_provider_token_is_verified(oidc: OidcProvider, jwks: str) -> None:
    verifier = verifier_for(oidc, jwks_url=oidc.jwks_url if jwks == "configured" else None)
    token = oidc.token_for(ROBOT, scope="xo:read xo:write")
    assert verifier.looks_like_jwt(token)
    before = time.time()
    verified = await verifier.verify(token)
    assert verified == VerifiedToken(
        subject="robot",
        client_id="robot",
        issuer=oidc.issuer,
        scopes=("xo:read", "xo:write"),
        expires_at=verified.expires_at,
        audience=(AUDIENCE,),
        claims={},
    )
    assert before + 500 < verified.expires_at < before + 700  # oidc-provider: 10 minutes
    assert verified.claims["jti"] and verified.claims["iss"] == oidc.issuer


async def test_scopes_the_client_was_granted(oidc: OidcProvider) -> None:
    verifier = verifier_for(oidc, required_scopes=("xo:read",))
    verified = await verifier.verify(oidc.token_for(READER, scope="xo:read"))
    assert (verified.subject, verified.client_id, verified.scopes) == (
        "reader",
        "reader",
        ("xo:read",),
    )


async def test_an_es256_token_is_verified(oidc: OidcProvider) -> None:
    token = oidc.token_for(ROBOT, scope="xo:read", resource=EC_AUDIENCE)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    verified = await verifier_for(oidc, EC_AUDIENCE).verify(token)
    assert verified.audience == (EC_AUDIENCE,)


def test_static_tokens_do_not_look_like_jwts(oidc: OidcProvider) -> None:
    assert JwtVerifier.looks_like_jwt(oidc.token_for(ROBOT))
    for static in ("prod-token-4f9a", "a.b", "a.b.c.d", "a b.c.d", "x" * 64, "", "a..c"):
        assert not JwtVerifier.looks_like_jwt(static), static


async def test_rotation_new_keys_are_fetched_old_ones_dropped(fresh_oidc: OidcProvider) -> None:
    # The rate limit has tests of its own; here it would only make the test wait for it.
    verifier = verifier_for(fresh_oidc, refetch_min_interval_s=0.0)
    before = fresh_oidc.token_for(ROBOT)
    assert (await verifier.verify(before)).subject == "robot"
    old_kid = fresh_oidc.signing_key.kid
    new_kid = fresh_oidc.rotate().kid
    after = fresh_oidc.token_for(ROBOT)
    assert jwt.get_unverified_header(after)["kid"] == new_kid != old_kid
    assert (await verifier.verify(after)).subject == "robot"  # unknown kid → refetched
    error = await refused_401(verifier, before, "unknown signing key")
    assert old_kid in error.reason


# --- refusals ------------------------------------------------------------------------------------


async def test_expired(oidc: OidcProvider) -> None:
    token = oidc.token_for(ROBOT)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    within_leeway = verifier_for(oidc, clock=lambda: expires + 29)
    assert (await within_leeway.verify(token)).subject == "robot"
    await refused_401(verifier_for(oidc, clock=lambda: expires + 31), token, "token expired")


async def test_issued_in_the_future(oidc: OidcProvider) -> None:
    token = oidc.token_for(ROBOT)  # iat: now, as the provider's clock reads
    slow_clock = verifier_for(oidc, clock=lambda: time.time() - 120)
    await refused_401(slow_clock, token, "not yet valid (iat in the future)")


async def test_not_before(issuer: StaticIssuer, key: TestKey) -> None:
    token = key.sign(claims_for(issuer.issuer, nbf=int(time.time()) + 300))
    await refused_401(verifier_for(issuer), token, "not yet valid (nbf in the future)")


async def test_wrong_issuer(issuer: StaticIssuer, key: TestKey) -> None:
    token = key.sign(claims_for("https://idp.elsewhere.test"))  # a key the verifier trusts
    error = await refused_401(verifier_for(issuer), token, "wrong issuer")
    assert "idp.elsewhere.test" in error.reason


async def test_wrong_audience(oidc: OidcProvider) -> None:
    token = oidc.token_for(ROBOT, resource=OTHER_AUDIENCE)
    error = await refused_401(verifier_for(oidc), token, "wrong audience")
    assert OTHER_AUDIENCE in error.reason


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [([OTHER_AUDIENCE, AUDIENCE], True), ([OTHER_AUDIENCE], False), ([], False), (None, False)],
)
async def test_audience_lists(
    issuer: StaticIssuer, key: TestKey, aud: list[str] | None, accepted: bool
) -> None:
    token = key.sign(claims_for(issuer.issuer, aud=aud))
    verifier = verifier_for(issuer)
    if accepted:
        assert (await verifier.verify(token)).audience == tuple(aud or ())
    else:
        await refused_401(verifier, token, "wrong audience")


async def test_bad_signature(oidc: OidcProvider) -> None:
    token = oidc.token_for(READER, scope="xo:read")
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["scope"] = "xo:read xo:write"  # a reader granting itself write access
    forged = f"{header}.{segment(claims)}.{signature}"
    await refused_401(verifier_for(oidc), forged, "bad signature")
    other_signature = oidc.token_for(ROBOT).split(".")[2]
    await refused_401(verifier_for(oidc), f"{header}.{payload}.{other_signature}", "bad signature")


async def test_alg_none_is_refused_before_any_key_lookup(issuer: StaticIssuer) -> None:
    header = {"alg": "none", "typ": "at+jwt"}
    token = hand_made_jwt(header, claims_for(issuer.issuer), secret=None)
    assert JwtVerifier.looks_like_jwt(token)  # a JWT, unsigned: refused as such, not as static
    await refused_401(verifier_for(issuer), token, "alg none")
    await refused_401(verifier_for(issuer), hand_made_jwt({"alg": "None"}, {}, None), "alg none")
    assert issuer.jwks_fetches == 0


async def test_hs256_signed_with_the_public_key(oidc: OidcProvider, issuer: StaticIssuer) -> None:
    """The classic confusion: a verifier that takes the algorithm from the token would check
    an HMAC keyed with the issuer's public key (PEM), which anyone can compute."""
    key = oidc.signing_key
    header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
    claims = claims_for(oidc.issuer, scope="xo:read xo:write")
    for secret in (key.public_pem(), json.dumps(key.public_jwk()).encode()):
        token = hand_made_jwt(header, claims, secret)
        await refused_401(verifier_for(oidc), token, "symmetric algorithm 'HS256' refused")
    token = hand_made_jwt({**header, "kid": issuer.keys[0].kid}, claims, b"whatever")
    await refused_401(verifier_for(issuer), token, "symmetric algorithm")
    assert issuer.jwks_fetches == 0  # refused before any key lookup


async def test_a_key_is_used_only_for_its_algorithm(issuer: StaticIssuer, key: TestKey) -> None:
    ec_key = TestKey("ES256", kid=key.kid)  # signs ES256 under the RSA key's kid
    token = ec_key.sign(claims_for(issuer.issuer))
    await refused_401(verifier_for(issuer), token, f"key '{key.kid}' is not for ES256")


async def test_a_key_is_used_only_for_its_declared_algorithm(
    issuer: StaticIssuer, key: TestKey
) -> None:
    pss = TestKey("PS256", kid=key.kid, private=key.private)  # the JWKS says RS256
    token = pss.sign(claims_for(issuer.issuer))
    await refused_401(verifier_for(issuer), token, f"key '{key.kid}' is not for PS256")


async def test_a_token_without_kid(issuer: StaticIssuer, key: TestKey) -> None:
    token = jwt.encode(claims_for(issuer.issuer), key.private, algorithm="RS256")
    assert "kid" not in jwt.get_unverified_header(token)
    assert (await verifier_for(issuer).verify(token)).subject == "robot"  # the only key
    issuer.keys.append(TestKey())
    await refused_401(verifier_for(issuer), token, "no kid and the issuer publishes several")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_unusable_jwks_entries_are_ignored(issuer: StaticIssuer, key: TestKey) -> None:
    weak_key = rsa.generate_private_key(65537, 1024)  # noqa: S505 (weak on purpose: refused)
    weak = TestKey(kid="weak", private=weak_key)
    leaked = TestKey(kid="leaked")
    issuer.extra_jwks = [
        {"kty": "oct", "kid": "shared", "k": b64url(b"a shared secret, not a signing key")},
        weak.public_jwk(),
        leaked.private_jwk(),  # a private key published by mistake
        {**TestKey(kid="for-encryption").public_jwk(), "use": "enc"},
        {"kty": "RSA", "kid": "broken", "n": "AQAB"},
    ]
    verifier = verifier_for(issuer)
    assert (await verifier.verify(key.sign(claims_for(issuer.issuer)))).subject == "robot"
    stranger = TestKey()
    for kid in ("shared", "weak", "leaked", "for-encryption", "broken"):
        signer = TestKey(kid=kid, private=stranger.private)
        await refused_401(verifier, signer.sign(claims_for(issuer.issuer)), "unknown signing key")
    for signer in (weak, leaked):  # even with the right private key
        await refused_401(verifier, signer.sign(claims_for(issuer.issuer)), "unknown signing key")


async def test_unknown_kid_after_a_refresh(oidc: OidcProvider) -> None:
    verifier = verifier_for(oidc, refetch_min_interval_s=0.0)
    await verifier.verify(oidc.token_for(ROBOT))  # keys cached
    stranger = TestKey("RS256", kid="not-the-providers")
    token = stranger.sign(claims_for(oidc.issuer))
    error = await refused_401(verifier, token, "unknown signing key")
    assert "'not-the-providers'" in error.reason and "after a JWKS refresh" in error.reason


async def test_unknown_kid_refetches_the_jwks(issuer: StaticIssuer, key: TestKey) -> None:
    verifier = verifier_for(issuer, refetch_min_interval_s=0.2)
    await verifier.verify(key.sign(claims_for(issuer.issuer)))
    assert issuer.jwks_fetches == 1
    await asyncio.sleep(0.25)
    await refused_401(verifier, TestKey().sign(claims_for(issuer.issuer)), "unknown signing key")
    assert issuer.jwks_fetches == 2


async def test_missing_scope_is_403(oidc: OidcProvider) -> None:
    verifier = verifier_for(oidc, required_scopes=("xo:read", "xo:write"))
    for token in (oidc.token_for(READER, scope="xo:read"), oidc.token_for(ROBOT, scope="xo:read")):
        error = await refused(verifier, token)
        assert (error.status, error.error) == (403, "insufficient_scope")
        assert error.reason == "missing scope xo:write"
    assert (await verifier.verify(oidc.token_for(ROBOT, scope="xo:read xo:write"))).scopes


async def test_scp_list_scopes(issuer: StaticIssuer, key: TestKey) -> None:
    claims = claims_for(issuer.issuer, scp=["xo:read", "xo:write"], azp="app")
    del claims["scope"], claims["client_id"]
    verified = await verifier_for(issuer, required_scopes=("xo:write",)).verify(key.sign(claims))
    assert (verified.scopes, verified.client_id) == (("xo:read", "xo:write"), "app")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "not a JWT"),
        ("static-token", "not a JWT"),
        ("a.b", "not a JWT"),
        ("a.b.c.d", "not a JWT"),
        ("e30.e30.c2ln" + "A" * oauth.MAX_TOKEN_CHARS, "not a JWT"),
        ("ey!J.e30.c2ln", "not a JWT"),
        (b64url(b"not json") + ".e30.c2ln", "header is not JSON"),
        ("e30AA.e30.c2ln", "header is not base64url"),
        (segment([1]) + ".e30.c2ln", "header is not a JSON object"),
        (segment({}) + ".e30.c2ln", "no alg"),
        (segment({"alg": 1}) + ".e30.c2ln", "no alg"),
        (segment({"alg": "RS256", "kid": 7}) + ".e30.c2ln", "kid is not a string"),
        (segment({"alg": "ES256K"}) + ".e30.c2ln", "algorithm 'ES256K' not allowed"),
        (segment({"alg": "HS512"}) + ".e30.c2ln", "symmetric algorithm 'HS512' refused"),
    ],
)
async def test_malformed_tokens(issuer: StaticIssuer, token: str, reason: str) -> None:
    await refused_401(verifier_for(issuer), token, reason)
    assert issuer.jwks_fetches == 0  # refused without fetching anything


def with_exp(exp: object) -> Callable[[dict[str, object]], bytes]:
    def payload(claims: dict[str, object]) -> bytes:
        return json.dumps({**claims, "exp": exp}).encode()  # NaN is written as such

    return payload


def without_exp(claims: dict[str, object]) -> bytes:
    return json.dumps({k: v for k, v in claims.items() if k != "exp"}).encode()


@pytest.mark.parametrize(
    ("payload_of", "reason"),
    [
        (lambda _: b"[1, 2]", "payload is not a JSON object"),
        (lambda _: b"not json", "payload is not JSON"),
        (with_exp(float("nan")), "exp is not a number"),
        (with_exp(float("inf")), "exp is not a number"),
        (with_exp("tomorrow"), "exp is not a number"),
        (with_exp(True), "exp is not a number"),
        (without_exp, "exp is not a number"),  # a token that never expires is not accepted
    ],
)
async def test_malformed_signed_payloads(
    issuer: StaticIssuer,
    key: TestKey,
    payload_of: Callable[[dict[str, object]], bytes],
    reason: str,
) -> None:
    """Signed by a trusted key, yet unusable: the payload is checked after the signature."""
    payload = payload_of(claims_for(issuer.issuer))
    token = jwt.PyJWS().encode(payload, key.private, "RS256", {"kid": key.kid})
    await refused_401(verifier_for(issuer), token, reason)


async def test_a_subject_is_required(issuer: StaticIssuer, key: TestKey) -> None:
    claims = claims_for(issuer.issuer)
    del claims["sub"]
    await refused_401(verifier_for(issuer), key.sign(claims), "no subject")


async def test_unknown_critical_header(issuer: StaticIssuer, key: TestKey) -> None:
    token = key.sign(claims_for(issuer.issuer), crit=["exp-ext"], **{"exp-ext": 1})
    await refused_401(verifier_for(issuer), token, "unsupported critical header parameter")


# --- the identity provider out of reach ----------------------------------------------------------


async def test_unreachable_issuer_fails_fast_with_503(key: TestKey) -> None:
    url = closed_port_url()
    verifier = JwtVerifier(OAuthSettings(issuer=url, audience=AUDIENCE))
    token = key.sign(claims_for(url))
    started = time.monotonic()
    error = await refused(verifier, token)
    assert time.monotonic() - started < 2
    assert (error.status, error.error) == (503, "temporarily_unavailable")
    assert error.reason == "cannot verify tokens now: issuer unreachable (ConnectError)"


async def test_a_hanging_issuer_is_given_up_and_retried_later(
    issuer: StaticIssuer, key: TestKey
) -> None:
    issuer.hang.set()
    verifier = verifier_for(issuer, fetch_timeout_s=0.5, refetch_min_interval_s=1.0)
    token = key.sign(claims_for(issuer.issuer))
    started = time.monotonic()
    error = await refused(verifier, token)
    assert 0.4 < time.monotonic() - started < 1.5
    assert error.status == 503 and "no answer within 0.5 s" in error.reason
    started = time.monotonic()  # within the refetch interval: answered at once, no new try
    assert (await refused(verifier, token)).status == 503
    assert time.monotonic() - started < 0.1
    issuer.hang.clear()
    await asyncio.sleep(1.0)
    assert (await verifier.verify(token)).subject == "robot"  # the provider is back


async def test_the_first_request_waits_for_one_fetch_only(
    issuer: StaticIssuer, key: TestKey
) -> None:
    issuer.hang.set()
    verifier = verifier_for(issuer, fetch_timeout_s=0.4, refetch_min_interval_s=0.0)
    started = time.monotonic()
    assert (await refused(verifier, key.sign(claims_for(issuer.issuer)))).status == 503
    assert time.monotonic() - started < 0.75  # not a second try after the first timed out


async def test_discovery_must_name_the_issuer(issuer: StaticIssuer, key: TestKey) -> None:
    issuer.claimed_issuer = "https://impostor.test"
    error = await refused(verifier_for(issuer), key.sign(claims_for(issuer.issuer)))
    assert error.status == 503 and "discovery names issuer 'https://impostor.test'" in error.reason


async def test_prefetch(issuer: StaticIssuer, key: TestKey) -> None:
    verifier = verifier_for(issuer)
    await verifier.prefetch()
    assert issuer.jwks_fetches == 1
    await verifier.verify(key.sign(claims_for(issuer.issuer)))
    assert issuer.jwks_fetches == 1
    with pytest.raises(TokenRefused) as caught:
        await JwtVerifier(OAuthSettings(closed_port_url(), AUDIENCE)).prefetch()
    assert caught.value.status == 503


# --- the JWKS fetches ----------------------------------------------------------------------------


async def test_refetches_are_rate_limited(issuer: StaticIssuer, key: TestKey) -> None:
    verifier = verifier_for(issuer, refetch_min_interval_s=0.5)
    await verifier.verify(key.sign(claims_for(issuer.issuer)))
    strangers = made_up_kids(issuer, 10)
    for _ in range(3):
        for error in await verify_all(verifier, strangers):
            assert error.status == 401 and "unknown signing key" in error.reason
    assert issuer.jwks_fetches == 1  # 30 made-up kids within the interval: no fetch at all
    await asyncio.sleep(0.5)
    await verify_all(verifier, strangers)
    assert issuer.jwks_fetches == 2  # one more once the interval is over, shared by all 10


async def test_concurrent_requests_share_one_fetch(issuer: StaticIssuer, key: TestKey) -> None:
    verifier = verifier_for(issuer, refetch_min_interval_s=0.0)
    good = [key.sign(claims_for(issuer.issuer)) for _ in range(20)]
    results = await asyncio.gather(*(verifier.verify(token) for token in good))
    assert {verified.subject for verified in results} == {"robot"}
    assert issuer.jwks_fetches == 1
    await verify_all(verifier, made_up_kids(issuer, 20))
    assert issuer.jwks_fetches == 2  # no rate limit, yet one refetch for 20 unknown kids


async def verify_all(verifier: JwtVerifier, tokens: list[str]) -> list[TokenRefused]:
    results = await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(result, TokenRefused) for result in results), results
    return [result for result in results if isinstance(result, TokenRefused)]


async def test_a_cancelled_request_does_not_cancel_the_shared_fetch(
    issuer: StaticIssuer, key: TestKey
) -> None:
    issuer.delay_s = 0.3
    verifier = verifier_for(issuer)
    token = key.sign(claims_for(issuer.issuer))
    first = asyncio.create_task(verifier.verify(token))
    second = asyncio.create_task(verifier.verify(token))
    await asyncio.sleep(0.1)  # both wait for the one fetch
    first.cancel()  # its client went away
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await second).subject == "robot"
    assert issuer.jwks_fetches == 1


async def test_withdrawn_keys_stop_verifying_after_their_max_age(
    issuer: StaticIssuer, key: TestKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oauth, "KEYS_MAX_AGE_S", 0.3)
    verifier = verifier_for(issuer, refetch_min_interval_s=0.0)
    token = key.sign(claims_for(issuer.issuer))
    await verifier.verify(token)
    issuer.keys = [TestKey()]  # the provider withdraws the key (say, it leaked)
    await asyncio.sleep(0.35)
    started = time.monotonic()
    await verifier.verify(token)  # not held up: the refresh runs in the background…
    assert time.monotonic() - started < 0.05
    deadline = time.monotonic() + 5
    while True:  # …and once it has landed, the withdrawn key no longer verifies
        try:
            await verifier.verify(token)
        except TokenRefused as error:
            assert "unknown signing key" in error.reason
            break
        assert time.monotonic() < deadline, "the withdrawn key still verifies"
        await asyncio.sleep(0.02)
    assert issuer.jwks_fetches >= 2


# --- transport: private CA, proxies --------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_certificates(tmp_path_factory.mktemp("tls"))


async def test_https_issuer_with_a_private_ca(
    key: TestKey, certificates: tuple[Path, Path, Path]
) -> None:
    ca, certificate, private = certificates
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certificate, private)
    with static_issuer(key, tls=tls) as server:
        token = key.sign(claims_for(server.issuer))
        trusting = verifier_for(server, ca_bundle=ca)
        assert (await trusting.verify(token)).subject == "robot"
        error = await refused(verifier_for(server), token)  # the system CAs only
        assert error.status == 503
        assert error.reason.endswith("issuer's TLS certificate is not trusted (ca_bundle?)")


async def test_the_proxy_variables_are_honoured(
    issuer: StaticIssuer, key: TestKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = key.sign(claims_for(issuer.issuer))
    with serve_in_thread(RecordingProxy()) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        assert (await verifier_for(issuer).verify(token)).subject == "robot"
        host_port = issuer.issuer.removeprefix("http://")
        assert proxy.to(host_port) == [
            f"GET {issuer.issuer}/.well-known/openid-configuration",
            f"GET {issuer.issuer}/jwks",
        ]
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert (await verifier_for(issuer).verify(token)).subject == "robot"
        assert len(proxy.lines()) == 2  # not through the proxy this time


async def test_a_verified_token_is_not_checked_again_until_it_expires(
    issuer: StaticIssuer, key: TestKey
) -> None:
    """The same token comes with every request: verified once, trusted for a short while, but
    never past its exp, and never once the keys changed."""
    clock = [time.time()]
    verifier = verifier_for(issuer, clock=lambda: clock[0])
    token = key.sign(claims_for(issuer.issuer, exp=int(clock[0]) + 60))
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first
    clock[0] += 60 + oauth.OAuthSettings(issuer="x", audience="y").leeway_s + 1
    with pytest.raises(TokenRefused, match="expired"):
        await verifier.verify(token)
