"""What a REST path says an operation acts on, to check descriptions against: the resource (first
segment), the sub-resource (the last literal segment below it) or the action, and the verbs its
method allows. Written apart from the code that builds descriptions, on purpose."""

from __future__ import annotations

import re
from dataclasses import dataclass

VERBS = {
    "GET": {"get", "list"},
    "DELETE": {"delete", "remove"},
    "POST": {"create", "add"},
    "PUT": {"add", "replace", "set"},
    "PATCH": {"update"},
}


KEEP_S = frozenset({"status", "bus", "ss"})


def singular(word: str) -> str:
    if word in KEEP_S:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Lower-case singular words: `VM-templates` → `vm`, `template`."""
    return [singular(w) for w in re.findall(r"[a-z0-9]+", text.lower())]


@dataclass(frozen=True)
class PathFacts:
    resource: list[str]  # the first segment's words
    sub: list[str]  # the last literal segment's words, when it is not the first one
    action: list[str]  # the action's words, for /…/actions/{name}


def path_facts(path: str) -> PathFacts:
    segments = [s for s in path.split("/") if s]
    literals = [s for s in segments if "{" not in s]
    if len(segments) >= 2 and segments[-2] == "actions":
        return PathFacts(words(segments[0]), [], words(segments[-1]))
    sub = words(literals[-1]) if len(literals) > 1 else []
    return PathFacts(words(segments[0]), sub, [])


def what_it_does(line: str) -> str:
    """The statement an operation line opens with, before its arguments or its notes."""
    text = line.split('": ', 1)[-1]
    return re.split(r" \(|\. |\.$", text, maxsplit=1)[0]


def mismatches(method: str, path: str, statement: str) -> list[str]:
    """Why `statement` does not describe `method path`: a word of the path it does not name, or
    a verb the method does not fit. Empty when it fits."""
    facts = path_facts(path)
    said = words(statement)
    problems = [
        f"does not name {word!r}"
        for word in facts.resource + facts.sub + facts.action
        if word not in said
    ]
    first = said[0] if said else ""
    allowed = {facts.action[0]} if facts.action else VERBS[method.upper()]
    if first not in allowed:
        problems.append(f"starts with {first!r}, not one of {sorted(allowed)}")
    return problems
