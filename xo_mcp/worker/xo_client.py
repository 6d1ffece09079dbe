"""The worker's HTTP client for XO's REST API: auth, kill-switch marker, timeouts, proxy, TLS.

Every request carries `X-XO-Client: mcp` so that XO's kill switch applies to it, and, within a
tool call, `X-Request-Id` (the gateway's id for the call, which XO's and proxies' logs can show)
and, when traces are on, the `traceparent` of the request's own span. Failures become
`XoRequestError` whose message is safe to show (it never contains a credential).
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx2

from xo_mcp import logs, telemetry
from xo_mcp.outbound import ssl_context
from xo_mcp.wire.exits import MCP_DISABLED
from xo_mcp.worker.settings import WorkerSettings

REST_BASE = "/rest/v0"
STATUS_TIMEOUT_S = 10.0
MCP_HEADER = {"X-XO-Client": "mcp"}
REQUEST_ID_HEADER = "X-Request-Id"
_MAX_ERROR_BODY = 2000
MAX_REDIRECTS = 3
MIN_BODY_LIMIT = 1 << 20
MAX_SPEC_BYTES = 64 << 20  # XO's real spec is about 1 MB


class XoRequestError(Exception):
    """A failed XO call, worded for the person reading the tool result."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        mcp_disabled: bool = False,
        summary: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.mcp_disabled = mcp_disabled
        # Without XO's response text, which may quote request values: fit for audit logs.
        self.summary = summary or message


@dataclass(frozen=True)
class XoResponse:
    status: int
    content_type: str
    text: str
    headers: dict[str, str]
    truncated: bool = False  # XO sent more than the worker reads (see `body_limit`)

    @property
    def is_json(self) -> bool:
        return "application/json" in self.content_type

    def json(self) -> Any:
        return json.loads(self.text)


def _auth_headers(settings: WorkerSettings) -> dict[str, str]:
    credentials = settings.credentials
    if credentials.token is not None:
        return {"Cookie": f"authenticationToken={credentials.token}"}
    pair = f"{credentials.username}:{credentials.password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


@dataclass(frozen=True)
class _Answer:
    """An HTTP answer whose body was read up to a limit."""

    status: int
    headers: httpx2.Headers
    url: httpx2.URL
    text: str
    truncated: bool

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.text)


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


async def _read(response: httpx2.Response, limit: int) -> _Answer:
    chunks: list[bytes] = []
    size = 0
    truncated = False
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            truncated = True
            break
    raw = b"".join(chunks)[:limit]
    try:
        text = raw.decode(_charset(response.headers.get("content-type", "")), errors="replace")
    except LookupError:  # an unknown charset name
        text = raw.decode("utf-8", errors="replace")
    return _Answer(response.status_code, response.headers, response.url, text, truncated)


def _mcp_disabled_body(response: _Answer) -> bool:
    if response.status != 503:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and isinstance(body.get("data"), dict)
        and (body["data"].get("error") == "mcp_disabled")
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def redact_url(url: str) -> str:
    """`http://user:secret@proxy:3128` → `http://proxy:3128`."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what caused it: the async backend hides ECONNREFUSED behind
    "All connection attempts failed"."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def describe_transport_error(error: httpx2.RequestError, ca_bundle: str = "XO_CA_BUNDLE") -> str:
    """A short cause, e.g. "connection refused", without the library's jargon."""
    if isinstance(error, httpx2.TimeoutException):
        return "timed out"
    causes = _causes(error)
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "connection refused"
    if any(isinstance(cause, socket.gaierror) for cause in causes):
        return "host name not found"
    text = str(error) or type(error).__name__
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "host name not found"
    if "certificate" in lowered:
        return f"TLS certificate rejected ({text}); set {ca_bundle} to trust a private CA"
    return text


def _same_origin_redirect(response: _Answer, method: str) -> str | None:
    """Where to follow a redirect (XO's `/users/me` → 307), or None to stop.

    Only within XO's own origin, so credentials never travel elsewhere; 301/302/303 are only
    followed for GET, since they would turn another method into a GET.
    """
    if response.status not in (301, 302, 303, 307, 308):
        return None
    if response.status in (301, 302, 303) and method != "GET":
        return None
    location = response.headers.get("location")
    if not location:
        return None
    target = response.url.join(location)
    if (target.scheme, target.host, target.port) != (
        response.url.scheme,
        response.url.host,
        response.url.port,
    ):
        return None
    return str(target)


class XoClient:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.base_url = settings.xo_url
        self._auth = _auth_headers(settings)
        proxy = settings.proxy.proxy_for(settings.xo_url)
        # Named in error messages, since a broken proxy looks like a broken XO; never its password.
        self._via = f" through proxy {redact_url(proxy)}" if proxy else ""
        # Enough bytes for the longest answer a tool may return (4 bytes per character at most);
        # an endless or huge body must not fill the worker's memory.
        self.body_limit = max(4 * settings.max_response_chars, MIN_BODY_LIMIT)
        self._http = httpx2.AsyncClient(
            timeout=settings.timeout_s,
            proxy=proxy,
            verify=ssl_context(settings.xo_url, settings.ca_bundle, settings.tls_insecure),
            trust_env=False,  # proxies are chosen explicitly, with the documented NO_PROXY rules
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"XoClient({self.base_url!r}, auth={self.settings.credentials.mode})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def check_mcp_status(self) -> None:
        """XO's kill switch, probed without credentials; raises when disabled or unreachable."""
        url = f"{self.base_url}{REST_BASE}/mcp/status"
        try:
            response = await self._exchange("GET", url, MCP_HEADER, None, STATUS_TIMEOUT_S)
        except httpx2.RequestError as error:
            cause = self._cause(error)
            raise XoRequestError(
                f"Unable to reach XO server at {self.base_url}{self._via} to verify MCP status: "
                f"{cause}"
            ) from None
        if response.is_success:
            return
        if _mcp_disabled_body(response):
            raise XoRequestError(MCP_DISABLED, status=503, mcp_disabled=True)
        detail = response.text[:_MAX_ERROR_BODY] or _reason(response.status)
        raise XoRequestError(
            f"Unable to verify MCP status (HTTP {response.status}): {detail}",
            status=response.status,
        )

    async def fetch_spec(self) -> Any:
        url = f"{self.base_url}{REST_BASE}/docs/swagger.json"
        headers = {**MCP_HEADER, **self._auth, "Accept": "application/json"}
        try:
            response = await self._exchange(
                "GET", url, headers, None, self.settings.timeout_s, limit=MAX_SPEC_BYTES
            )
        except httpx2.RequestError as error:
            cause = self._cause(error)
            raise XoRequestError(f"Failed to fetch OpenAPI spec from {url}: {cause}") from None
        if not response.is_success:
            raise self._error(response)
        if response.truncated:
            raise XoRequestError(f"OpenAPI spec at {url} is larger than {MAX_SPEC_BYTES} bytes")
        try:
            return response.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            raise XoRequestError(f"OpenAPI spec at {url} is not valid JSON") from None

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> XoResponse:
        """Call `path` (relative to /rest/v0); non-2xx answers raise XoRequestError."""
        url = f"{self.base_url}{REST_BASE}{path}"
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v != ""})
        headers = {**MCP_HEADER, **self._auth}
        request_id = logs.context().get("request_id")
        if request_id:
            headers[REQUEST_ID_HEADER] = str(request_id)
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body).encode()
        seconds = timeout or self.settings.timeout_s
        attributes = {"http.request.method": method, "url.path": f"{REST_BASE}{path}"}
        with telemetry.span(method, kind="client", attributes=attributes) as span:
            headers.update(telemetry.headers())  # this request's own span, when traces are on
            response = await self._follow(method, url, headers, content, seconds)
            telemetry.annotate(span, **{"http.response.status_code": response.status})
            if not response.is_success:
                telemetry.failed(span, f"HTTP {response.status}")
                raise self._error(response)
        return XoResponse(
            response.status,
            response.headers.get("content-type", ""),
            response.text,
            dict(response.headers),
            response.truncated,
        )

    async def _follow(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None, seconds: float
    ) -> _Answer:
        """Send, and follow XO's own redirects (never to another origin)."""
        response = await self._send(method, url, headers, content, seconds)
        for _ in range(MAX_REDIRECTS):
            target = _same_origin_redirect(response, method)
            if target is None:
                break
            response = await self._send(method, target, headers, content, seconds)
        return response

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        timeout: float,
        *,
        limit: int | None = None,
    ) -> _Answer:
        request = self._http.build_request(
            method, url, headers=headers, content=content, timeout=timeout
        )
        try:
            # A deadline for the whole exchange, as the official server's fetch has: httpx's own
            # timeouts apply to each read, and a trickling body would never trip them.
            async with asyncio.timeout(timeout):
                response = await self._http.send(request, stream=True)
                try:
                    return await _read(response, limit or self.body_limit)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise httpx2.ReadTimeout("deadline exceeded", request=request) from None

    async def _send(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None, timeout: float
    ) -> _Answer:
        try:
            return await self._exchange(method, url, headers, content, timeout)
        except httpx2.TimeoutException:
            raise XoRequestError(f"Request to XO server timed out after {timeout:g}s.") from None
        except httpx2.ConnectError as error:
            raise XoRequestError(
                f"Cannot connect to XO server at {self.base_url}{self._via} "
                f"({self._cause(error)}). Verify the server is running and "
                f"{self.settings.name_of('XO_URL')} is correct."
            ) from None
        except httpx2.RequestError as error:  # connected, then the exchange broke off
            raise XoRequestError(
                f"Request to XO server at {self.base_url}{self._via} failed ({self._cause(error)})."
            ) from None

    def _cause(self, error: httpx2.RequestError) -> str:
        return describe_transport_error(error, self.settings.name_of("XO_CA_BUNDLE"))

    def _error(self, response: _Answer) -> XoRequestError:
        status = response.status
        if status == 401:
            name = self.settings.name_of
            hint = (
                f"check {name('XO_TOKEN')} — the token may have expired or been revoked."
                if self.settings.credentials.token is not None
                else f"check {name('XO_USERNAME')} and {name('XO_PASSWORD')}."
            )
            return XoRequestError(f"Authentication failed: {hint}", status=401)
        if _mcp_disabled_body(response):
            return XoRequestError(
                f"{MCP_DISABLED}: the XO administrator turned MCP access off "
                "([mcp] enabled = false in xo-server's configuration).",
                status=503,
                mcp_disabled=True,
            )
        text = response.text[:_MAX_ERROR_BODY]
        summary = f"XO API error ({status} {_reason(status)})"
        return XoRequestError(f"{summary}: {text}", status=status, summary=summary)
