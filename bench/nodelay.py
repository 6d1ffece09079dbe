"""Run `python -m MODULE ARGS...` with TCP_NODELAY on every accepted TCP connection.

asyncio sets TCP_NODELAY only on sockets whose `proto` is IPPROTO_TCP; xo-mcp-sim, the worker's
`--listen HOST:PORT` and the gateway's HTTP port create their listening sockets with proto 0,
so their connections keep Nagle's algorithm. A response written in two parts (headers, then
body) then waits for the client's delayed ACK: about 40 ms per request on a reused connection.

The benchmarks run the simulator through this shim so that its stall does not hide the servers
under test, and run the gateway and the worker both as shipped and through it, to show what the
one-line fix (create the socket with IPPROTO_TCP) is worth. Usage:

    python bench/nodelay.py -m xo_mcp.sim --listen 127.0.0.1:0
"""

from __future__ import annotations

import asyncio.base_events
import runpy
import socket
import sys


def _set_nodelay(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[1] != "-m":
        raise SystemExit("usage: nodelay.py -m MODULE [ARGS...]")
    module = sys.argv[2]
    asyncio.base_events._set_nodelay = _set_nodelay  # type: ignore[attr-defined]
    # The module must see the same sys.path as with `python -m`: the working directory first.
    sys.path[0] = ""
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
