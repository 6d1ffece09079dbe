"""The worker's HTTP client for XO's REST API: auth, kill-switch marker, timeouts, proxy, TLS.

Every request carries `X-XO-Client: mcp` so that XO's kill switch applies to it. Failures
become `XoRequestError` whose message is safe to show (it never contains a credential).
"""

from __future__ import annotations

import base64
import json
import ssl
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2

from xo_mcp.worker.settings import WorkerSettings

REST_BASE = "/rest/v0"
STATUS_TIMEOUT_S = 10.0
MCP_HEADER = {"X-XO-Client": "mcp"}
MCP_DISABLED = "MCP disabled by admin"
_MAX_ERROR_BODY = 2000


class XoRequestError(Exception):
    """A failed XO call, worded for the person reading the tool result."""

    def __init__(self, message: str, *, status: int | None = None, mcp_disabled: bool = False):
        super().__init__(message)
        self.status = status
        self.mcp_disabled = mcp_disabled


@dataclass(frozen=True)
class XoResponse:
    status: int
    content_type: str
    text: str
    headers: dict[str, str]

    @property
    def is_json(self) -> bool:
        return "application/json" in self.content_type

    def json(self) -> Any:
        return json.loads(self.text)


def ssl_context(url: str, ca_bundle: Path | None, insecure: bool) -> ssl.SSLContext | bool:
    """Verification by default; a private CA bundle; or, knowingly, no verification."""
    if not url.startswith("https:"):
        return True
    if insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)


def _auth_headers(settings: WorkerSettings) -> dict[str, str]:
    credentials = settings.credentials
    if credentials.token is not None:
        return {"Cookie": f"authenticationToken={credentials.token}"}
    pair = f"{credentials.username}:{credentials.password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def _mcp_disabled_body(response: httpx2.Response) -> bool:
    if response.status_code != 503:
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


def describe_transport_error(error: httpx2.TransportError) -> str:
    """A short cause, e.g. "connection refused", without the library's jargon."""
    if isinstance(error, httpx2.TimeoutException):
        return "timed out"
    text = str(error) or type(error).__name__
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "host name not found"
    if "certificate" in lowered:
        return f"TLS certificate rejected ({text}); set XO_CA_BUNDLE to trust a private CA"
    return text


class XoClient:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.base_url = settings.xo_url
        self._auth = _auth_headers(settings)
        self._http = httpx2.AsyncClient(
            timeout=settings.timeout_s,
            proxy=settings.proxy.proxy_for(settings.xo_url),
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
            response = await self._http.get(url, headers=MCP_HEADER, timeout=STATUS_TIMEOUT_S)
        except httpx2.TransportError as error:
            cause = describe_transport_error(error)
            raise XoRequestError(
                f"Unable to reach XO server at {self.base_url} to verify MCP status: {cause}"
            ) from None
        if response.is_success:
            return
        if _mcp_disabled_body(response):
            raise XoRequestError(MCP_DISABLED, status=503, mcp_disabled=True)
        detail = response.text[:_MAX_ERROR_BODY] or _reason(response.status_code)
        raise XoRequestError(
            f"Unable to verify MCP status (HTTP {response.status_code}): {detail}",
            status=response.status_code,
        )

    async def fetch_spec(self) -> Any:
        url = f"{self.base_url}{REST_BASE}/docs/swagger.json"
        headers = {**MCP_HEADER, **self._auth, "Accept": "application/json"}
        try:
            response = await self._http.get(url, headers=headers)
        except httpx2.TransportError as error:
            cause = describe_transport_error(error)
            raise XoRequestError(f"Failed to fetch OpenAPI spec from {url}: {cause}") from None
        if not response.is_success:
            raise self._error(response)
        try:
            return response.json()
        except ValueError:
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
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body).encode()
        try:
            response = await self._http.request(
                method,
                url,
                headers=headers,
                content=content,
                timeout=timeout or self.settings.timeout_s,
            )
        except httpx2.TimeoutException:
            raise XoRequestError(
                f"Request to XO server timed out after {timeout or self.settings.timeout_s:g}s."
            ) from None
        except httpx2.TransportError as error:
            raise XoRequestError(
                f"Cannot connect to XO server at {self.base_url} "
                f"({describe_transport_error(error)}). Verify the server is running and XO_URL is "
                "correct."
            ) from None
        if not response.is_success:
            raise self._error(response)
        return XoResponse(
            response.status_code,
            response.headers.get("content-type", ""),
            response.text,
            dict(response.headers),
        )

    def _error(self, response: httpx2.Response) -> XoRequestError:
        status = response.status_code
        if status == 401:
            hint = (
                "check XO_TOKEN — the token may have expired or been revoked."
                if self.settings.credentials.token is not None
                else "check XO_USERNAME and XO_PASSWORD."
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
        return XoRequestError(f"XO API error ({status} {_reason(status)}): {text}", status=status)
