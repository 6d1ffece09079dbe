"""XO credentials: the `authenticationToken` (or `token`) cookie, or HTTP Basic."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie

from xo_mcp.sim.errors import XoError, internal_error, invalid_credentials


@dataclass
class Credentials:
    """What the simulator accepts; mutable at runtime so tests can revoke a token mid-session."""

    tokens: set[str] = field(default_factory=set)
    username: str | None = None
    password: str | None = None

    def token_is_valid(self, token: str) -> bool:
        return any(hmac.compare_digest(token, known) for known in self.tokens)

    def password_is_valid(self, username: str, password: str) -> bool:
        if self.username is None or self.password is None:
            return False
        same_user = hmac.compare_digest(username, self.username)
        return same_user and hmac.compare_digest(password, self.password)


def _cookie_token(cookie_header: str | None) -> str | None:
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    for name in ("authenticationToken", "token"):
        if name in jar:
            return jar[name].value
    return None


def _basic_pair(header: str) -> tuple[str, str]:
    # XO ignores the scheme word and splits the decoded text on ":", keeping only two parts.
    _, sep, encoded = header.partition(" ")
    if not sep:
        raise XoError(400, "Malformed Authorization header")
    try:
        decoded = base64.b64decode(encoded.strip() + "==", validate=False).decode(
            "utf-8", "replace"
        )
    except (binascii.Error, ValueError):
        decoded = ""
    parts = decoded.split(":")
    password = parts[1] if len(parts) > 1 else ""
    return parts[0], password


def authenticate(
    credentials: Credentials, cookie_header: str | None, authorization: str | None
) -> bool:
    """True when valid credentials were sent, False when none were; raises XO's error otherwise."""
    token = _cookie_token(cookie_header)
    if token is not None and authorization is not None:
        raise XoError(
            400, "Having multiple authentication methods is not supported, please choose one"
        )
    if token is not None:
        if not credentials.token_is_valid(token):
            raise invalid_credentials()
        return True
    if authorization is None:
        return False
    username, password = _basic_pair(authorization)
    if password == "":
        raise internal_error("empty password")
    if not credentials.password_is_valid(username, password):
        raise invalid_credentials()
    return True
