"""`search_documentation`: fetch a page of the XO docs and keep its readable text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx2

from xo_mcp.worker.settings import WorkerSettings
from xo_mcp.worker.xo_client import XoRequestError, describe_transport_error

# Offline machines must get an answer quickly, not after a 30 s hang.
DOCS_TIMEOUT = httpx2.Timeout(15.0, connect=5.0)
_SKIPPED = frozenset(
    {"head", "title", "script", "style", "nav", "header", "footer", "noscript", "svg", "template"}
)
_BLOCKS = frozenset({"p", "div", "section", "article", "br", "tr", "pre", "table", "ul", "ol"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n## ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self._skipping:
            self._skipping -= 1
        elif re.fullmatch(r"h[1-6]", tag) or tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = "".join(extractor.parts)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


async def fetch_documentation(url: str, settings: WorkerSettings) -> str:
    proxy = settings.proxy.proxy_for(url)
    try:
        async with httpx2.AsyncClient(timeout=DOCS_TIMEOUT, proxy=proxy, trust_env=False) as http:
            response = await http.get(url, headers={"Accept": "text/html"}, follow_redirects=True)
    except httpx2.RequestError as error:
        raise XoRequestError(
            f"Cannot reach documentation server {settings.docs_url} "
            f"({describe_transport_error(error)}). Set XO_DOCS_URL to a reachable mirror, or a "
            "proxy with HTTPS_PROXY."
        ) from None
    if not response.is_success:
        raise XoRequestError(f"Failed to fetch documentation: HTTP {response.status_code}")
    if "html" not in response.headers.get("content-type", "html"):
        return response.text
    return html_to_text(response.text)
