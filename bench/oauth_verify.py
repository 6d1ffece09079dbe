"""What verifying an OAuth access token costs the HTTP port once the JWKS is cached: p50/p99
of `JwtVerifier.verify()` (RS256 and ES256), next to PyJWT's bare `jwt.decode` with the same
key and to `looks_like_jwt`, the check a static bearer token goes through.

    .venv/bin/python bench/oauth_verify.py [--count 5000]

The keys come from a JWKS on loopback (fetched once, before the timed loop); the tokens are
100 distinct ones per algorithm, cycled. Not a test: it prints figures, it judges nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import jwt
from support.oidc import AUDIENCE, TestKey, claims_for, static_issuer

from xo_mcp.gateway.oauth import JwtVerifier, OAuthSettings


def percentiles(samples_ns: list[int]) -> str:
    cuts = statistics.quantiles(samples_ns, n=100)
    return f"p50 {cuts[49] / 1000:7.1f} µs   p99 {cuts[98] / 1000:7.1f} µs"


async def timed_async(
    call: Callable[[str], Awaitable[object]], tokens: list[str], count: int
) -> list[int]:
    samples = []
    for n in range(count):
        token = tokens[n % len(tokens)]
        started = time.perf_counter_ns()
        await call(token)
        samples.append(time.perf_counter_ns() - started)
    return samples


def timed(call: Callable[[str], object], tokens: list[str], count: int) -> list[int]:
    samples = []
    for n in range(count):
        token = tokens[n % len(tokens)]
        started = time.perf_counter_ns()
        call(token)
        samples.append(time.perf_counter_ns() - started)
    return samples


async def main(count: int) -> None:
    keys = {"RS256": TestKey("RS256"), "ES256": TestKey("ES256")}
    with static_issuer(*keys.values()) as issuer:
        verifier = JwtVerifier(OAuthSettings(issuer.issuer, AUDIENCE))
        await verifier.prefetch()
        for algorithm, key in keys.items():
            tokens = [key.sign(claims_for(issuer.issuer)) for _ in range(100)]
            await verifier.verify(tokens[0])  # warm
            samples = await timed_async(verifier.verify, tokens, count)
            print(f"verify() {algorithm}, cached JWKS   {percentiles(samples)}")
            public = key.private.public_key()

            def bare(token: str, public: object = public, algorithm: str = algorithm) -> object:
                return jwt.decode(token, public, algorithms=[algorithm], audience=AUDIENCE)

            print(f"jwt.decode {algorithm} (reference) {percentiles(timed(bare, tokens, count))}")
        assert issuer.jwks_fetches == 1, "the timed loops must not fetch"
    statics = [f"static-token-{n:04d}-4f9a1c" for n in range(100)]
    samples = timed(JwtVerifier.looks_like_jwt, statics, count)
    print(f"looks_like_jwt(static token)    {percentiles(samples)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    asyncio.run(main(parser.parse_args().count))
