"""Listening sockets shared by the simulator, the worker, the gateway and the demo."""

from __future__ import annotations

import ipaddress
import socket


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 bracketed or not) stays on this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tcp_listener(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A bound, listening TCP socket with Nagle's algorithm off.

    asyncio only disables Nagle itself for sockets created with IPPROTO_TCP; without it, a
    response written in two parts waits for the peer's delayed ACK (~40 ms per request on a
    reused connection). Listening before the address is announced lets early clients wait in
    the backlog instead of being refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock
