"""Operations in a few words, for compact tool lists (`XO_MCP_COMPACT=1`, the fleet's aggregated
surface): `StartVm(id,body?)`, `RevertSnapshotVm(id,body{snapshotId,…})`, `PutVmTag(id,tag)`.

In parentheses, the arguments a model must think of: the path placeholders and the body (its
required keys, `…` when it has optional ones too, `body?` when every key is optional). The
list arguments (filter, fields, limit) are declared by the tool and not repeated per line.
After a colon, what the operation does, only when its id does not already say it: nearly every
XO operationId reads as its own description (`GetVmAlarms`, `CleanShutdownVm`). Everything else
(the spec's notes, privileges, the body's schema) is one `describe_operation` call away.

`confirm_token` is not among an operation's arguments here: no first call needs it, and the
answer that asks for it says how to send it (most clients let a human confirm instead).
"""

from __future__ import annotations

import re

from xo_mcp.wire.messages import OperationBrief
from xo_mcp.worker.describe import BodyShape, stems
from xo_mcp.worker.openapi import Operation

_ARTICLES = re.compile(r"\b(?:a|an|the) ")
_CAMEL_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b|_)|[A-Z]?[a-z]+|\d+")
# Verbs that say no more than an operationId's own verb: "List VMs" for `GetVms`.
_SAME_VERBS = stems("get list return show create add post put delete remove destroy update set")


def _id_words(name: str) -> frozenset[str]:
    return stems(" ".join(_CAMEL_WORD.findall(name)))


def _body(shape: BodyShape) -> str:
    if not shape.required:
        return "body?"
    more = ",…" if shape.optional else ""
    return "body{" + ",".join(shape.required) + more + "}"


def _says_more(op: Operation, segment: str) -> bool:
    """Whether the operation's phrase tells what its id and its tool's domain do not."""
    known = _id_words(op.name) | _SAME_VERBS | stems(segment.replace("-", " "))
    return not stems(op.description) <= known


def brief(op: Operation, segment: str) -> OperationBrief:
    """The compact line of `op` in the tool of `segment`, and the tool arguments it uses."""
    shown = list(dict.fromkeys(op.placeholders))
    arguments = [*shown, *op.list_arguments]
    notes: list[str] = []
    if op.body_shape is not None and op.body_shape.file:
        notes.append("file upload: unsupported")
    elif op.body_shape is not None:
        shown.append(_body(op.body_shape))
        arguments.append("body")
    if op.tasked:
        arguments.append("wait")
    if _says_more(op, segment):
        notes.insert(0, _ARTICLES.sub("", op.description))
    if op.deprecated and "deprecated" not in op.name.lower():
        notes.append("deprecated")
    line = op.name + (f"({','.join(shown)})" if shown else "")
    if notes:
        line += ": " + ", ".join(notes)
    return OperationBrief(line=line, arguments=tuple(dict.fromkeys(arguments)))
