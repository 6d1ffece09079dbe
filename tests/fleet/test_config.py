"""The fleet file: strict validation (a corpus of broken files), the shipped examples, and the
commands that only read it (`check`, `render`, `init`, and `run` refusing an invalid file)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from fleet.fleetkit import reachable_dir, run_as_unprivileged
from pydantic import BaseModel
from supervisor.options import ServerOptions
from support.processes import PYTHON, REPO, clean_env, secret_file

from xo_mcp.core import RuntimeLayout
from xo_mcp.fleet import cli
from xo_mcp.fleet.config import Fleet, FleetError, parse_fleet
from xo_mcp.fleet.handoff import gateway_setup
from xo_mcp.fleet.relay import log_pipe
from xo_mcp.fleet.render import render_supervisord_conf, worker_command, worker_environment
from xo_mcp.fleet.starter import starter_text
from xo_mcp.fleet.toml_lines import KeyLines

CORPUS = Path(__file__).parent / "corpus"
EXAMPLE = REPO / "configs" / "fleet.example.toml"
DEMO = REPO / "configs" / "fleet.demo.toml"
CASES = sorted(path.stem for path in CORPUS.glob("*.toml"))


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """What the corpus calls @DIR@: a readable token, an empty file and a directory."""
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "token").write_text("t0ken\n")
    (directory / "empty").write_text("")
    (directory / "subdir").mkdir()
    return directory


def run_cli(*argv: str) -> tuple[int, str, str]:
    """`xo-mcp-fleet ARGV` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(list(argv))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert all((CORPUS / f"{case}.expected").is_file() for case in CASES)


@pytest.mark.parametrize("case", CASES)
def test_check_reports_every_problem_with_its_key_and_line(
    case: str, secrets_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SET_TOKEN", "x")
    monkeypatch.delenv("UNSET_TOKEN", raising=False)
    config = tmp_path / "fleet.toml"
    text = (CORPUS / f"{case}.toml").read_text().replace("@DIR@", str(secrets_dir))
    config.write_text(text)

    code, out, err = run_cli("check", str(config))

    expected = (CORPUS / f"{case}.expected").read_text().splitlines()
    header, *listed = err.replace(str(config), "fleet.toml").splitlines()
    problems = [line.removeprefix("  ").replace(str(secrets_dir), "@DIR@") for line in listed]
    assert code == 2
    assert out == ""
    assert header == f"xo-mcp-fleet: fleet.toml is invalid ({len(expected)} problem(s)):"
    assert problems == expected


def test_check_accepts_a_valid_file_with_a_summary(secrets_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(
        f'[instances.prod]\nurl = "https://xo.example.com"\ntoken_file = "{secrets_dir}/token"\n'
        f'[instances.lab]\nurl = "http://xo.lab:8080"\nusername = "u"\n'
        f'password_file = "{secrets_dir}/token"\nactions = true\n'
    )
    code, out, err = run_cli("check", str(config))
    assert (code, err) == (0, "")
    assert out == (
        "ok: 2 instance(s): prod (read-only), lab (actions); stdio; 0 HTTP client(s); "
        "sandbox warn\n"
    )


def test_check_names_the_uid_that_cannot_read_a_secret(python_65532: str) -> None:
    # Root reads anything: ask as the image's uid, with a file only root may read.
    with reachable_dir("xo-check-") as base:
        secret = secret_file(base, "token", "t0ken")
        config = base / "fleet.toml"
        config.write_text(f'[instances.prod]\nurl = "https://xo"\ntoken_file = "{secret}"\n')
        config.chmod(0o644)
        result = run_as_unprivileged(python_65532, "-m", "xo_mcp.fleet", "check", str(config))
    assert result.returncode == 2
    assert f"{config}:3: instances.prod.token_file: {secret}: not readable by uid 65532" in (
        result.stderr
    )


def test_run_starts_nothing_on_an_invalid_file(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    config = tmp_path / "fleet.toml"
    config.write_text(f'runtime_dir = "{runtime}"\n[instances.prod]\nurl = "https://xo"\n')
    result = subprocess.run(
        [PYTHON, "-m", "xo_mcp.fleet", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{config}:2: instances.prod: no credentials" in result.stderr
    assert not runtime.exists()


# --- the shipped files -----------------------------------------------------------------------


def _model_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key of the fleet file, as dotted paths (`instances.*.proxy.https`)."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        for nested in _nested_models(field.annotation):
            step = f"{prefix}{name}.*." if name == "instances" else f"{prefix}{name}."
            keys += _model_keys(nested, step)
    return keys


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _nested_models(arg)]


def test_the_example_names_every_key_of_the_fleet_file() -> None:
    text = EXAMPLE.read_text()
    keys = _model_keys(Fleet)
    assert {"instances.*.proxy.no_proxy", "gateway.clients.read_only"} <= set(keys)
    for key in keys:
        leaf = key.rsplit(".", 1)[-1]
        as_key = re.search(rf"^\s*#?\s*{leaf}\s*=|# or {leaf} =", text, re.MULTILINE)
        as_table = re.search(rf"^\[\[?[a-z._-]*\b{leaf}\b", text, re.MULTILINE)
        assert as_key or as_table, f"configs/fleet.example.toml does not show {key}"


def test_every_key_of_the_example_is_explained() -> None:
    lines = EXAMPLE.read_text().splitlines()
    for number, line in enumerate(lines):
        if not re.match(r"^\s*[a-z_]+\s*=", line) or "#" in line:
            continue
        above = lines[:number]
        block = []
        for previous in reversed(above):
            if not previous.strip():
                break
            block.append(previous)
        assert any(item.lstrip().startswith("#") for item in block), (
            f"fleet.example.toml:{number + 1} `{line.strip()}` has no comment"
        )


def test_the_example_is_valid_apart_from_its_secret_files() -> None:
    text = EXAMPLE.read_text()
    fleet = parse_fleet(text, str(EXAMPLE), check_secrets=False)
    assert set(fleet.instances) == {"production", "staging"}
    with pytest.raises(FleetError) as raised:
        parse_fleet(text, str(EXAMPLE), env={})
    assert raised.value.problems
    for problem in raised.value.problems:
        assert problem.endswith(("no such file", "is not set (or empty)")), problem


def test_the_demo_file_is_valid_once_its_variables_are_set() -> None:
    env = {"XO_DEMO_TOKEN": "sim-token", "XO_DEMO_PASSWORD": "demo-password"}
    fleet = parse_fleet(DEMO.read_text(), str(DEMO), env=env)
    assert fleet.instances["production"].token_env == "XO_DEMO_TOKEN"
    assert fleet.actions_of("staging") and not fleet.actions_of("production")


# --- init, render -----------------------------------------------------------------------------


def test_init_writes_a_commented_starter_that_validates(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    code, out, _ = run_cli("init", str(path))
    assert code == 0 and str(path) in out
    text = path.read_text()
    assert text == starter_text()
    tomllib.loads(text)
    fleet = parse_fleet(text, check_secrets=False)
    assert set(fleet.instances) == {"production", "staging"}
    comments = [line for line in text.splitlines() if line.startswith("#")]
    headers = [line for line in text.splitlines() if line.startswith("[")]
    assert len(comments) >= len(headers)

    code, _, err = run_cli("init", str(path))
    assert code == 1 and "--force" in err
    path.write_text("changed")
    assert run_cli("init", "--force", str(path))[0] == 0
    assert path.read_text() == starter_text()


def test_render_never_contains_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file_secret, env_secret = "canary-file-7f3a", "canary-env-91bc"
    token = tmp_path / "token"
    token.write_text(file_secret)
    monkeypatch.setenv("PROD_TOKEN", env_secret)
    config = tmp_path / "fleet.toml"
    config.write_text(
        f'[instances.prod]\nurl = "https://xo"\ntoken_env = "PROD_TOKEN"\n'
        f'[instances.lab]\nurl = "https://lab"\ntoken_file = "{token}"\n'
        f'[[gateway.clients]]\nname = "ops"\ntoken_file = "{token}"\n'
    )
    code, out, err = run_cli("render", str(config))
    assert (code, err) == (0, "")
    assert file_secret not in out and env_secret not in out
    assert "[program:prod]" in out and "[program:lab]" in out
    assert f'XO_TOKEN_FILE="{token}"' in out
    assert "XO_MCP_SECRET_SOCKET=" in out  # the env secret goes through the launcher's socket
    password = re.search(r"^password=(.*)$", out, re.MULTILINE)
    assert password and re.fullmatch(r"\{SHA\}[0-9a-f]{40}", password.group(1))


def test_render_works_before_the_secrets_exist(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text('[instances.prod]\nurl = "https://xo"\ntoken_file = "/run/secrets/nope"\n')
    code, out, _ = run_cli("render", str(config))
    assert code == 0 and "XO_TOKEN_FILE" in out


def test_supervisord_reads_back_exactly_what_was_rendered(tmp_path: Path) -> None:
    """Values pass through supervisord's ini parser (inline comments, % interpolation) and its
    non-POSIX shlex: what the worker receives must be what the fleet file says."""
    runtime = tmp_path / "run %d z#"
    fleet = parse_fleet(
        f'runtime_dir = "{runtime}"\n'
        "[instances.prod]\n"
        'url = "https://xo.example.com/base%20path"\n'
        'username = "o\'brien, jr;x#y é"\n'
        'password_file = "/run/secrets/pass word\\\\x"\n'
        'deny = ["DeleteVm", "GET /vms/{id}"]\n'
        "[instances.prod.proxy]\n"
        'http = "http://proxy.example:3128"\n'
        'no_proxy = ["a.example", ".b.example"]\n',
        check_secrets=False,
    )
    layout = RuntimeLayout(fleet.runtime_dir)
    for folder in ("control", "logs"):
        (runtime / folder).mkdir(parents=True)
    conf = tmp_path / "supervisord.conf"
    conf.write_text(render_supervisord_conf(fleet, layout, "password", python="/opt/py 3%/python"))

    options = ServerOptions()
    options.configfile = str(conf)
    options.process_config(do_usage=False)

    program = options.process_group_configs[0].process_configs[0]
    assert program.environment == worker_environment(fleet, "prod", layout)
    assert program.environment["XO_PASSWORD_FILE"] == "/run/secrets/pass word\\x"
    expected_argv = shlex.split(worker_command(fleet, "prod", layout, "/opt/py 3%/python"))
    assert shlex.split(program.command) == [a.replace("%%", "%") for a in expected_argv]
    assert options.pidfile == str(runtime / "supervisord.pid")
    assert program.stdout_logfile == str(log_pipe(layout, "prod"))
    assert options.childlogdir == str(runtime)


def test_lines_are_found_in_arrays_of_tables() -> None:
    text = (
        "[gateway]\nlisten = 'x'\n\n[[gateway.clients]]\nname = 'a'\n\n"
        "[[gateway.clients]]\nname = 'b'\ntoken_env = 'B'\n[gateway.clients.extra]\nk = 1\n"
    )
    lines = KeyLines(text)
    assert lines.find(("gateway", "listen")) == 2
    assert lines.find(("gateway", "clients", 0, "name")) == 5
    assert lines.find(("gateway", "clients", 1, "token_env")) == 9
    assert lines.find(("gateway", "clients", 1, "extra", "k")) == 11
    assert lines.find(("gateway", "clients", 1, "missing")) == 7


def test_compact_tools_is_on_unless_turned_off(tmp_path: Path) -> None:
    base = '[instances.lab]\nurl = "https://xo.lab.example.com"\ntoken_env = "XO_LAB"\n'
    env = {"XO_LAB": "t0ken"}
    assert parse_fleet(base, "default.toml", env=env).gateway.compact_tools is True
    off = parse_fleet(f"[gateway]\ncompact_tools = false\n{base}", "off.toml", env=env)
    assert off.gateway.compact_tools is False
    layout = RuntimeLayout(tmp_path)
    assert gateway_setup(off, layout, {}, None).compact_tools is False
    with pytest.raises(FleetError) as raised:
        parse_fleet(f'[gateway]\ncompact_tools = "yes"\n{base}', "bad.toml", env=env)
    assert any("gateway.compact_tools" in problem for problem in raised.value.problems)


# --- what a new user tripped over ------------------------------------------------------------


def test_init_dash_prints_the_starter_to_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("init", "-")
    assert (code, err) == (0, "")
    assert out == starter_text()
    assert list(tmp_path.iterdir()) == []  # no file named "-"


def test_init_where_it_cannot_write_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "fleet.toml"
    code, out, err = run_cli("init", str(target))
    assert (code, out) == (1, "")
    assert err == (
        f"xo-mcp-fleet: cannot write {target}: No such file or directory "
        "(`xo-mcp-fleet init -` prints it instead)\n"
    )


@pytest.mark.parametrize("command", ["check", "render"])
def test_the_fleet_file_is_named_either_way(command: str, tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    token = secret_file(tmp_path, "token", "t")
    config.write_text(f'[instances.prod]\nurl = "https://xo"\ntoken_file = "{token}"\n')
    positional = run_cli(command, str(config))
    named = run_cli(command, "--config", str(config))
    assert positional[0] == named[0] == 0
    if command == "check":
        assert positional == named
    code, _, err = run_cli(command, str(config), "--config", str(tmp_path / "other.toml"))
    assert code == 2 and "two fleet files given" in err


def test_run_takes_the_fleet_file_either_way(tmp_path: Path) -> None:
    """Both forms reach the same file (and the same refusal)."""
    config = tmp_path / "fleet.toml"
    config.write_text('[instances.prod]\nurl = "https://xo"\n')
    for argv in (["run", str(config)], ["run", "--config", str(config)]):
        code, _, err = run_cli(*argv, "--log-format", "text")
        assert code == 2 and f"{config}:1: instances.prod: no credentials" in err


def test_run_help_explains_what_it_refers_to() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = out.getvalue()
    assert "see above" not in text
    assert "$XO_MCP_FLEET_CONFIG" in text and "--log-format" in text and "--log-level" in text


def test_logging_flags_beat_variables_beat_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xo_mcp import logs

    fleet = parse_fleet(
        'log_format = "text"\nlog_level = "warning"\n[instances.p]\nurl = "https://xo"\n'
        'token_env = "T"\n',
        env={"T": "x"},
    )
    args = cli.build_parser().parse_args(["run"])
    monkeypatch.delenv(logs.FORMAT_ENV, raising=False)
    monkeypatch.delenv(logs.LEVEL_ENV, raising=False)
    cli._configure_logs(args, fleet)
    assert (logs.current_format(), logs.current_level()) == ("text", "warning")
    monkeypatch.setenv(logs.FORMAT_ENV, "json")
    monkeypatch.setenv(logs.LEVEL_ENV, "error")
    cli._configure_logs(args, fleet)
    assert (logs.current_format(), logs.current_level()) == ("json", "error")
    flagged = cli.build_parser().parse_args(["run", "--log-format", "text", "--log-level", "debug"])
    cli._configure_logs(flagged, fleet)
    assert (logs.current_format(), logs.current_level()) == ("text", "debug")
    logs.configure(format="text", level="info")


def test_check_warns_of_deny_entries_that_name_no_operation(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    token = secret_file(tmp_path, "token", "t")
    config.write_text(
        f'[defaults]\ndeny = ["DeleteVM", "GET /vms/{{id}}", "NoSuchThingAtAll"]\n'
        f'[instances.prod]\nurl = "https://xo"\ntoken_file = "{token}"\n'
        f'[instances.lab]\nurl = "https://lab"\ntoken_file = "{token}"\n'
        f'deny = ["DELETE /vm/{{id}}"]\n'
    )
    code, out, err = run_cli("check", str(config))
    assert code == 0 and out.startswith("ok: 2 instance(s)")
    assert err.splitlines() == [
        "xo-mcp-fleet: warning: defaults.deny: 'DeleteVM' is not an operation of XO's REST API "
        "0.39.0; did you mean 'DeleteVm'?",
        "xo-mcp-fleet: warning: defaults.deny: 'NoSuchThingAtAll' is not an operation of XO's "
        "REST API 0.39.0",
        "xo-mcp-fleet: warning: instances.lab.deny: 'DELETE /vm/{id}' is not an operation of "
        "XO's REST API 0.39.0; did you mean 'DELETE /vms/{id}'?",
    ]
