"""XO's error responses: `{"error": <message>, "data": <data>}` with XO's status mapping."""

from __future__ import annotations

from typing import Any


class XoError(Exception):
    """An error XO answers as JSON; `data` is omitted from the body when None."""

    def __init__(
        self,
        status: int,
        error: Any,
        data: Any = None,
        *,
        headers: dict[str, str] | None = None,
        info: str | None = None,
    ) -> None:
        super().__init__(str(error))
        self.status = status
        self.error = error
        self.data = data
        self.headers = headers or {}
        self.info = info
        self.code: str | None = None  # XAPI's error code, for XAPI errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error}
        if self.data is not None:
            body["data"] = self.data
        if self.info is not None:
            body["info"] = self.info
        return body


def no_such_object(object_id: str, xo_type: str) -> XoError:
    return XoError(404, f"no such {xo_type} {object_id}", {"id": object_id, "type": xo_type})


def invalid_credentials() -> XoError:
    return XoError(401, "invalid credentials", headers={"WWW-Authenticate": 'Basic realm="xo"'})


def invalid_parameters(fields: dict[str, dict[str, Any]]) -> XoError:
    """tsoa validation failures: the field map is the message, `data` is empty."""
    return XoError(422, fields, {})


def invalid_parameters_text(message: str) -> XoError:
    return XoError(422, message, {})


def forbidden_operation(operation: str, reason: Any) -> XoError:
    return XoError(
        403, f"forbidden operation: {operation}", {"operation": operation, "reason": reason}
    )


def incorrect_state(actual: Any, expected: Any, object_id: str, prop: str) -> XoError:
    data = {"actual": actual, "expected": expected, "object": object_id, "property": prop}
    return XoError(409, "incorrect state", data)


def xapi_error(code: str, *params: str) -> XoError:
    message = f"{code}({', '.join(params)})"
    error = XoError(500, message, info="This is a XenServer/XCP-ng error, not an XO error")
    error.code = code
    return error


def mcp_disabled() -> XoError:
    return XoError(503, "MCP is disabled by administrator", {"error": "mcp_disabled"})


def internal_error(message: str) -> XoError:
    return XoError(500, message)
