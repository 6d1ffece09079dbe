"""The fleet-file loader against hostile input (property-based): whatever the text, it returns
a fleet or raises FleetError listing problems; never another exception, never a hang. A fleet
it accepts renders into a supervisord config without error.

The corpus of known mistakes and their exact messages is tests/fleet/test_config.py; this file
throws arbitrary text and arbitrary TOML documents at the same code.
"""

from __future__ import annotations

import datetime
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.processes import PYTHON, clean_env

from xo_mcp.core import RuntimeLayout
from xo_mcp.fleet.config import Fleet, FleetError, parse_fleet
from xo_mcp.fleet.render import render_supervisord_conf

SETTINGS = settings(
    max_examples=300,
    deadline=5000,  # ms: far above any honest parse, far below a hang
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ENV = {"XO_TOKEN_ENV": "value", "EMPTY": ""}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Secret paths of every kind the loader may meet."""
    base = tmp_path_factory.mktemp("hostile-config")
    (base / "token").write_text("secret\n")
    (base / "empty").write_text("")
    (base / "dir").mkdir()
    return {
        "file": str(base / "token"),
        "empty": str(base / "empty"),
        "dir": str(base / "dir"),
        "missing": str(base / "missing"),
        "relative": "token",
        "null": "/dev/null",
    }


def _load(text: str) -> Fleet | None:
    """The property: a Fleet, or FleetError with non-empty one-line problems."""
    try:
        fleet = parse_fleet(text, "fleet.toml", ENV, check_secrets=True)
    except FleetError as error:
        assert error.problems, "a FleetError must say what is wrong"
        for problem in error.problems:
            assert isinstance(problem, str) and problem.startswith("fleet.toml")
        return None
    render_supervisord_conf(fleet, RuntimeLayout(fleet.runtime_dir), "control-password")
    return fleet


# --- arbitrary TOML-ish text ---------------------------------------------------------------

FRAGMENTS = [
    "[instances.a]\n",
    "[instances.",
    "[[gateway.clients]]\n",
    "[gateway]\n",
    "[defaults]\n",
    "[supervision]\n",
    "[instances.a.proxy]\n",
    'url = "http://127.0.0.1:1"\n',
    'token_env = "XO_TOKEN_ENV"\n',
    'token_file = "/dev/null"\n',
    "actions = true\n",
    "timeout_s = 1e400\n",
    "timeout_s = nan\n",
    "deny = [\n",
    'listen = "0.0.0.0:8080"\n',
    'name = "x"\n',
    "instances = []\n",
    "=",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    '"""',
    "#",
    ",",
    ".",
    "\n",
    "\\u0000",
    "\\",
    "\x00",
    "\r",
    "é",
    "\U0001f600",
    "1979-05-27T07:32:00Z",
    "0x7FFFFFFFFFFFFFFFFF",
    "a" * 300,
]
TOMLISH = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=40).map(
    "".join
)


@SETTINGS
@given(TOMLISH)
def test_any_text_is_a_fleet_or_a_fleet_error(text: str) -> None:
    _load(text)


# --- arbitrary TOML documents (tomli_w) ----------------------------------------------------

SCALARS = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(timezones=st.none() | st.just(datetime.UTC)),
    st.dates(),
    st.times(),
)
KEYS = st.one_of(
    st.sampled_from(
        [
            "instances",
            "gateway",
            "clients",
            "defaults",
            "supervision",
            "url",
            "token_file",
            "token_env",
            "username",
            "password_env",
            "actions",
            "deny",
            "timeout_s",
            "proxy",
            "listen",
            "sandbox",
            "runtime_dir",
            "a",
        ]
    ),
    st.text(max_size=12),
)
DOCUMENTS = st.dictionaries(
    KEYS,
    st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=25,
    ),
    max_size=6,
)


def _dumped(document: dict[str, Any]) -> str:
    try:
        return tomli_w.dumps(document)
    except (TypeError, ValueError):  # not every nesting is expressible in TOML
        assume(False)
        raise


@SETTINGS
@given(DOCUMENTS)
def test_any_toml_document_is_a_fleet_or_a_fleet_error(document: dict[str, Any]) -> None:
    _load(_dumped(document))


# --- documents shaped like a fleet file ------------------------------------------------------


def _instance(files: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    junk = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
    return st.fixed_dictionaries(
        {},
        optional={
            "url": st.sampled_from(
                ["http://127.0.0.1:1", "https://xo.example", "ftp://x", "http://u:p@h", "x"]
            )
            | junk,
            "token_file": st.sampled_from(list(files.values())) | junk,
            "token_env": st.sampled_from(["XO_TOKEN_ENV", "EMPTY", "UNSET", "1BAD"]) | junk,
            "username": st.text(max_size=10),
            "password_file": st.sampled_from(list(files.values())),
            "actions": st.booleans() | junk,
            "deny": st.lists(st.sampled_from(["DeleteVm", "GET /vms", "bad entry"]) | junk),
            "timeout_s": st.floats() | junk,
            "proxy": st.fixed_dictionaries(
                {}, optional={"https": junk | st.just("http://p:3128"), "no_proxy": junk}
            ),
            "tls_insecure": st.booleans(),
            "ca_bundle": st.sampled_from(list(files.values())),
            "extra": junk,
        },
    )


def _fleet_shaped(files: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from(["a", "prod", "x-1", "A", "-x", "a_b", "é", "a" * 40])
    client = st.fixed_dictionaries(
        {},
        optional={
            "name": st.text(max_size=8),
            "token_file": st.sampled_from(list(files.values())),
            "token_env": st.sampled_from(["XO_TOKEN_ENV", "UNSET"]),
            "instances": st.lists(names, max_size=3),
            "read_only": st.booleans() | SCALARS,
        },
    )
    gateway = st.fixed_dictionaries(
        {},
        optional={
            "listen": st.sampled_from(["127.0.0.1:8080", "0.0.0.0:80", "[::1]:1", "nope", ":"]),
            "clients": st.lists(client, max_size=3),
            "max_request_bytes": st.integers(min_value=-(2**63), max_value=2**63 - 1),
            "allow_unauthenticated": st.booleans(),
        },
    )
    return st.fixed_dictionaries(
        {"instances": st.dictionaries(names, _instance(files), max_size=3)},
        optional={
            "gateway": gateway,
            "defaults": st.fixed_dictionaries({}, optional={"timeout_s": SCALARS}),
            "sandbox": st.sampled_from(["off", "warn", "required", "maybe"]),
            "runtime_dir": st.sampled_from(["/tmp/xo-hostile", "relative", ""]),
        },
    )


@pytest.fixture
def shaped(files: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    return _fleet_shaped(files)


@SETTINGS
@given(data=st.data())
def test_fleet_shaped_documents_are_a_fleet_or_a_fleet_error(
    data: st.DataObject, shaped: st.SearchStrategy[dict[str, Any]]
) -> None:
    _load(_dumped(data.draw(shaped)))


def test_huge_and_deep_documents() -> None:
    many = "".join(
        f'[instances.i{n}]\nurl = "http://127.0.0.1:{n + 1}"\ntoken_env = "XO_TOKEN_ENV"\n'
        for n in range(2000)
    )
    with pytest.raises(FleetError) as error:
        parse_fleet(many + "[instances.x]\nurl = 1\n", "fleet.toml", ENV)
    assert [p.split(": ")[1] for p in error.value.problems] == ["instances.x.url"]
    assert _load(many) is not None  # 2000 instances: accepted and rendered
    _load("x" * 5_000_000)
    _load("a = " + "[" * 400 + "]" * 400 + "\n")


def test_deeply_nested_arrays_are_a_fleet_error() -> None:
    with pytest.raises(FleetError) as error:
        parse_fleet("a = " + "[" * 5000 + "]" * 5000 + "\n", "fleet.toml", ENV)
    assert error.value.problems == ["fleet.toml: not valid TOML: nested too deeply"]


# --- secret files that are not files --------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "secret.fifo"
    os.mkfifo(path)
    yield path


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_a_secret_that_is_not_a_regular_file_is_refused_at_once(
    tmp_path: Path, fifo: Path, kind: str
) -> None:
    secret = str(fifo) if kind == "fifo" else kind
    config = tmp_path / "fleet.toml"
    config.write_text(
        f'[instances.a]\nurl = "http://127.0.0.1:1"\ntoken_file = "{secret}"\n', encoding="utf-8"
    )
    try:
        done = subprocess.run(
            [PYTHON, "-m", "xo_mcp.fleet", "check", str(config)],
            capture_output=True,
            text=True,
            timeout=10,
            env=clean_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`xo-mcp-fleet check` still reading {secret} after 10 s")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "instances.a.token_file" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
