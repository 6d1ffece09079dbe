"""What a model needs to know per operation, built from whatever XO's spec says (or leaves out).

XO's 0.39.0 spec has no `summary`, and most of its descriptions are only a privilege list
("Required privilege:" then "- resource: vm, action: delete"). A model needs three things per
operation: what it does, the arguments it takes, and the privilege it needs. What it does comes
from the method and path (always right, and short), followed by what the spec's prose adds
(preconditions, notes); the privilege list shrinks to `vm:delete`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

NOTE_BUDGET = 120  # characters of the spec's own prose kept per operation line
MAX_BODY_KEYS = 5  # body keys named per line; the rest are counted

# --- the spec's prose and its privilege list -----------------------------------------------------

_PRIVILEGE = re.compile(
    r"^\s*[-*]\s*resource:\s*([^,\s]+)\s*,\s*action:\s*(\S+)\s*(.*)$", re.IGNORECASE
)
# "(if an hostId is specified)", "(when `name` is given)", "(if `evacuate: true`)" → "if hostId"
_GIVEN = re.compile(
    r"^(?:if|when)\s+(?:an?\s+|the\s+)?([\w.$-]+)"
    r"(?:\s+is\s+(?:passed|specified|given|set|provided|true)|\s*:\s*true)?$",
    re.IGNORECASE,
)
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*+")  # backticks stay: they mark names a model must write as is
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(`])")
_WORD = re.compile(r"[a-z0-9]+")
_STOP_WORDS = frozenset(
    {"a", "an", "the", "of", "on", "to", "from", "in", "into", "for", "and", "or", "its", "it",
     "this", "that", "with", "by", "is", "are", "be", "as", "at", "one", "all", "any"}
)  # fmt: skip
# Verbs that say no more than the method does: "Destroys a VM" adds nothing to "Delete a VM".
_PLAIN_VERBS = frozenset(
    {"get", "return", "list", "show", "create", "add", "delete", "remove", "destroy", "update",
     "change", "set", "put", "post", "patch"}
)  # fmt: skip


@dataclass(frozen=True)
class Privilege:
    resource: str
    action: str
    condition: str = ""  # short: "if hostId", "on the target SR"


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _condition(raw: str) -> str:
    text = raw.strip().replace("`", "")
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    if text.lower().startswith(("e.g.", "for example")):
        return ""  # examples of the actions a `<field>` stands for: the line says "per field"
    given = _GIVEN.match(text)
    return f"if {given[1]}" if given else _clip(text, 40)


def _is_privilege_header(line: str) -> bool:
    """The line that introduces a privilege list: it speaks of privileges and ends with `:`."""
    stripped = line.strip()
    return stripped.endswith(":") and "privilege" in stripped.lower()


def split_privileges(description: str) -> tuple[str, list[Privilege]]:
    """The description's prose without its privilege list, and that list."""
    prose: list[str] = []
    privileges: list[Privilege] = []
    for line in html.unescape(description).splitlines():
        found = _PRIVILEGE.match(line)
        if found is None:
            prose.append(line)
            continue
        if prose and _is_privilege_header(prose[-1]):
            prose.pop()
        privileges.append(Privilege(found[1], found[2], _condition(found[3])))
    return "\n".join(prose), privileges


def _field_prefix(privilege: Privilege) -> str | None:
    """`update` for a per-field privilege (`update:<field>`, or `update:name` if name given)."""
    head, sep, tail = privilege.action.rpartition(":")
    if sep and (tail == "<field>" or privilege.condition == f"if {tail}"):
        return head
    return None


def short_needs(privileges: list[Privilege]) -> str:
    """`vm:start, host:allow-vm if hostId`; per-field privileges folded into one item."""
    per_field = {(p.resource, prefix) for p in privileges if (prefix := _field_prefix(p))}
    whole = {(p.resource, p.action) for p in privileges if (p.resource, p.action) in per_field}
    items: dict[str, None] = {}
    for privilege in privileges:
        resource, action = privilege.resource, privilege.action
        prefix = _field_prefix(privilege)
        if prefix is not None:
            if (resource, prefix) in whole:
                continue  # said by the whole-object item below
            items[f"{resource}:{prefix}:<field> per field"] = None
        elif (resource, action) in whole:
            items[f"{resource}:{action} or {resource}:{action}:<field> per field"] = None
        else:
            condition = f" {privilege.condition}" if privilege.condition else ""
            items[f"{resource}:{action}{condition}"] = None
    return ", ".join(items)


def _stem(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("ss", "x", "ch", "sh")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        return word[:-1]
    return word


def stems(text: str) -> frozenset[str]:
    """The content words of `text`, lower case and singular (roughly)."""
    return frozenset(
        _stem(word)
        for word in _WORD.findall(text.lower())
        if len(word) > 1 and word not in _STOP_WORDS
    )


def _is_bullet(line: str) -> bool:
    return line.startswith(("- ", "* "))


def _starts_sentence(line: str, previous: str) -> bool:
    """A bullet, or a capital after a line that ended without punctuation (a missing full stop)."""
    return _is_bullet(line) or (line[0].isupper() and previous[-1] not in ",;:(-")


def _chunks(paragraph: str) -> list[str]:
    """Bullet items and unpunctuated lines apart, wrapped lines of one sentence together.

    A line that introduces a list goes, and so does its list (XO's data source catalogue:
    far too long for a tool description)."""
    chunks: list[tuple[str, bool]] = []
    for line in paragraph.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not chunks or _starts_sentence(stripped, chunks[-1][0]):
            chunks.append((stripped, _is_bullet(stripped)))
        else:
            chunks[-1] = (chunks[-1][0] + " " + stripped, chunks[-1][1])
    kept: list[str] = []
    introduced = False
    for index, (chunk, bullet) in enumerate(chunks):
        following_bullet = index + 1 < len(chunks) and chunks[index + 1][1]
        if not bullet:
            introduced = following_bullet
        if not introduced:
            kept.append(chunk.lstrip("-* ") if bullet else chunk)
    return kept


def sentences(prose: str) -> Iterator[str]:
    """The prose's sentences, markup removed, each ending with a full stop (lazily: a line
    needs the first few only, however long the spec's text)."""
    for paragraph in re.split(r"\n\s*\n", prose):
        for chunk in _chunks(paragraph):
            plain = _EMPHASIS.sub("", _LINK.sub(r"\1", chunk))
            for sentence in _SENTENCE_END.split(" ".join(plain.split())):
                sentence = sentence.strip().rstrip(":;,")
                if sentence:
                    yield sentence if sentence[-1] in ".!?" else sentence + "."


def _mentions(sentence: str, names: frozenset[str]) -> bool:
    return any(
        re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", sentence, re.IGNORECASE)
        for name in names
        if len(name) <= 100  # nobody could pass a longer name as an argument anyway
    )


def notes(prose: str, phrase: str, avoid: frozenset[str] = frozenset()) -> str:
    """What the prose adds to `phrase`, within NOTE_BUDGET characters.

    Sentences that only restate the phrase go, and so do sentences naming any of `avoid` (query
    parameters the tool does not offer: a model would try to pass them)."""
    known = stems(phrase) | _PLAIN_VERBS
    kept: list[str] = []
    used = 0
    for sentence in sentences(prose):
        if stems(sentence) <= known or _mentions(sentence, avoid):
            continue
        if used + len(sentence) > NOTE_BUDGET:
            if not kept:
                kept.append(_clip(sentence, NOTE_BUDGET))
            break
        kept.append(sentence)
        used += len(sentence) + 1
    return " ".join(kept)


# --- what an operation does, from its method and path --------------------------------------------

_ACRONYMS = frozenset(
    {"vm", "vdi", "vbd", "vif", "pif", "pbd", "pci", "pgpu", "vgpu", "gpu", "sr", "sm", "acl",
     "mcp", "gui", "smt", "xo", "xoa", "xva", "ova", "vhd", "ha", "id", "ip", "api", "cpu", "vtpm",
     "sse", "url", "json"}
)  # fmt: skip
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


def _word(word: str) -> str:
    """`vm` → `VM`, `pifs` → `PIFs`; other words as they are."""
    lower = word.lower()
    if lower in _ACRONYMS:
        return lower.upper()
    if lower.endswith("s") and lower[:-1] in _ACRONYMS:
        return lower[:-1].upper() + "s"
    return word


def _words(segments: list[str]) -> str:
    """`["vm-templates"]` → `VM templates`; `["stats", "data_source"]` → `stats data source`."""
    return " ".join(_word(w) for s in segments for w in re.split(r"[-_]", s) if w)


def _singular(phrase: str) -> str:
    head, _, last = phrase.rpartition(" ")
    lower = last.lower()
    if last[:-1].isupper() and last.endswith("s"):  # VMs, VDIs, PGPUs
        last = last[:-1]
    elif lower.endswith("ies") and len(lower) > 4:
        last = last[:-3] + "y"
    elif lower.endswith(("sses", "xes", "ches", "shes")):
        last = last[:-2]
    elif lower.endswith("s") and not lower.endswith(("ss", "us", "is")):
        last = last[:-1]
    return f"{head} {last}" if head else last


def _a(noun: str) -> str:
    """`a VM`, `an SR`, `an alarm`, `a user`."""
    first = noun.split(" ", 1)[0]
    letters = first.rstrip("s") if first[:-1].isupper() else first
    # An acronym is said letter by letter: "an SR" but "a VM".
    vowel_sound = letters[0] in "AEFHILMNORSX" if letters.isupper() else first[0].lower() in "aeio"
    return f"{'an' if vowel_sound else 'a'} {noun}"


@dataclass(frozen=True)
class _Shape:
    owners: list[tuple[list[str], bool]]  # literal runs ending in a placeholder; bool: `{id}.x`
    tail: list[str]  # literal segments after the last placeholder


def _shape(path: str) -> _Shape:
    owners: list[tuple[list[str], bool]] = []
    run: list[str] = []
    for segment in (s for s in path.split("/") if s):
        if "{" not in segment:
            run.append(segment)
            continue
        leftover = _PLACEHOLDER.sub("", segment).strip(".")
        owners.append((run, bool(leftover) or segment.count("{") > 1))
        run = []
    return _Shape(owners, run)


def _noun(run: list[str], *, top: bool = False) -> str:
    """One item of a run of segments: `vm-templates` → `VM template`.

    At the top of a path every segment names a collection (`/users/authentication_tokens`: a
    user authentication token); deeper, only the last one does (`stats/data_source`: a stats
    data source)."""
    if top:
        return " ".join(_singular(_words([segment])) for segment in run) or "item"
    return _singular(_words(run)) or "item"


def _action(name: str, owner: str) -> str:
    words = _words([name])
    if " " not in words:
        return f"{words[:1].upper()}{words[1:]} {owner}"
    return f"{words[:1].upper()}{words[1:]} on {owner}"


def _collection_phrase(method: str, tail: list[str], listing: bool) -> str:
    words = _words(tail) or "resources"
    verbs = {
        "GET": f"List {words}" if listing else f"Get the {words}",
        "POST": f"Create {_a(_noun(tail, top=True))}",
        "DELETE": f"Delete all {words}",
        "PATCH": f"Update the {words}",
    }
    return verbs.get(method, f"Replace the {words}")


def _tail_phrase(method: str, tail: list[str], owner: str, listing: bool) -> str:
    if tail[0] == "actions" and len(tail) == 2:
        return _action(tail[1], owner)
    sub = _words(tail)
    verbs = {
        "GET": f"List the {sub} of {owner}" if listing else f"Get the {sub} of {owner}",
        "POST": f"Add {_a(_singular(sub))} to {owner}",
        "DELETE": f"Delete the {sub} of {owner}",
    }
    return verbs.get(method, f"Update the {sub} of {owner}")


def _item_phrase(method: str, item: str, parent: str | None, file: bool) -> str:
    if parent is not None:
        verbs = {
            "GET": f"Get {item} of {parent}",
            "PUT": f"Add {item} to {parent}",
            "POST": f"Add {item} to {parent}",
            "DELETE": f"Remove {item} from {parent}",
        }
        return verbs.get(method, f"Update {item} of {parent}")
    verbs = {
        "GET": f"Get {item} as a file" if file else f"Get {item}",
        "PUT": f"Replace {item} from a file" if file else f"Replace {item}",
        "POST": f"Create {item}",
        "DELETE": f"Delete {item}",
    }
    return verbs.get(method, f"Update {item}")


def phrase(method: str, path: str, *, listing: bool = False) -> str:
    """What the operation does, from its method and path: `Remove a tag from a VM`.

    `listing`: a GET that takes XO's list arguments (filter, fields, limit) returns a list."""
    method = method.upper()
    shape = _shape(path)
    if not shape.owners:
        return _collection_phrase(method, shape.tail, listing)
    run, file = shape.owners[-1]
    item = _a(_noun(run, top=len(shape.owners) == 1))
    if shape.tail:
        return _tail_phrase(method, shape.tail, item, listing)
    parent = None
    if len(shape.owners) > 1:
        parent = _a(_noun(shape.owners[-2][0], top=len(shape.owners) == 2))
    return _item_phrase(method, item, parent, file)


# --- the body a request takes ---------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def follow(node: Any, components: Mapping[str, Any]) -> Any:
    """`node` with its local `$ref`s followed (`#/components/<kind>/<name>`), a few hops at most."""
    for _ in range(10):
        ref = _mapping(node).get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/components/"):
            return node
        kind, _, name = ref.removeprefix("#/components/").partition("/")
        node = _mapping(components.get(kind)).get(name)
    return None


_BODY_NODES = 2_000  # schemas visited per body at most: `$ref`s can fan out without end


def _object_keys(
    schema: Any, components: Mapping[str, Any], budget: list[int], depth: int = 0
) -> tuple[dict[str, None], set[str]]:
    """The keys an object schema names (ordered), and those it requires."""
    schema = _mapping(follow(schema, components))
    keys: dict[str, None] = {}
    required: set[str] = set()
    budget[0] -= 1
    if depth > 4 or budget[0] < 0:
        return keys, required
    keys.update(dict.fromkeys(str(key) for key in _mapping(schema.get("properties"))))
    required.update(str(key) for key in _list(schema.get("required")))
    for part in _list(schema.get("allOf")):
        part_keys, part_required = _object_keys(part, components, budget, depth + 1)
        keys.update(part_keys)
        required |= part_required
    branches = [
        _object_keys(part, components, budget, depth + 1)
        for part in _list(schema.get("anyOf")) + _list(schema.get("oneOf"))
    ]
    for branch_keys, _ in branches:
        keys.update(branch_keys)
    if branches:  # a key is required only if every alternative requires it
        required |= set.intersection(*(branch_required for _, branch_required in branches))
    return keys, required & set(keys)


@dataclass(frozen=True)
class BodyShape:
    """The body an operation takes: a file, or a JSON object's keys (required ones apart)."""

    file: bool = False
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


def body_shape(request_body: Any, components: Mapping[str, Any]) -> BodyShape | None:
    """None when the operation takes no body."""
    content = _mapping(_mapping(follow(request_body, components)).get("content"))
    if not content:
        return None
    if "application/json" not in content:
        return BodyShape(file=True)
    schema = _mapping(content["application/json"]).get("schema")
    keys, required = _object_keys(schema, components, [_BODY_NODES])
    return BodyShape(
        required=tuple(key for key in keys if key in required),
        optional=tuple(key for key in keys if key not in required),
    )


def body_hint(request_body: Any, components: Mapping[str, Any]) -> str:
    """`body {snapshotId, snapshotBefore?}`; empty when the operation takes no body."""
    return shape_hint(body_shape(request_body, components))


def shape_hint(shape: BodyShape | None) -> str:
    if shape is None:
        return ""
    if shape.file:
        return "file upload, not supported by this tool"
    ordered = [*shape.required, *(f"{key}?" for key in shape.optional)]
    if not ordered:
        return "body"
    shown = ordered[:MAX_BODY_KEYS]
    if len(ordered) > MAX_BODY_KEYS:
        shown.append(f"…+{len(ordered) - MAX_BODY_KEYS}")
    return "body {" + ", ".join(shown) + "}"
