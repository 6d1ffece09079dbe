"""In-process simulators: the ASGI app behind a real HTTP client, no socket involved."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest

from xo_mcp.sim.app import Simulator
from xo_mcp.sim.state import DEFAULT_TOKEN, SimConfig, SimState

REST = "/rest/v0"


class InProcessXo:
    """A simulated XO and a client; requests carry the default token unless `auth` says not."""

    def __init__(self, app: Simulator, http: httpx2.AsyncClient) -> None:
        self.app = app
        self.http = http

    @property
    def state(self) -> SimState:
        return self.app.state

    async def request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx2.Response:
        sent = dict(headers or {})
        if auth:
            sent.setdefault("cookie", f"authenticationToken={DEFAULT_TOKEN}")
        url = path if path.startswith(("/rest", "/_sim")) or path == "/" else REST + path
        return await self.http.request(method, url, headers=sent, **kwargs)

    async def get(self, path: str, **params: Any) -> httpx2.Response:
        return await self.request("GET", path, params=params)

    async def json(self, path: str, **params: Any) -> Any:
        response = await self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, path: str, body: Any = None, **params: Any) -> httpx2.Response:
        return await self.request("POST", path, json=body, params=params)


MakeXo = Callable[..., Awaitable[InProcessXo]]


@pytest.fixture
async def make_xo() -> AsyncIterator[MakeXo]:
    """Build in-process simulators from SimConfig keywords; all are shut down afterwards."""
    made: list[InProcessXo] = []

    async def make(**config: Any) -> InProcessXo:
        config.setdefault("action_seconds", 0.01)
        app = Simulator(SimConfig(**config))
        http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://sim")
        made.append(InProcessXo(app, http))
        return made[-1]

    yield make
    for xo in made:
        await xo.http.aclose()
        await xo.state.tasks.close()


@pytest.fixture
async def xo(make_xo: MakeXo) -> InProcessXo:
    """The default simulated XO (seed 1), in process, fresh for each test."""
    return await make_xo()
