"""The worker's configuration: every variable, every error aggregated, exit code 2 via the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from support.processes import PYTHON, clean_env

from xo_mcp.wire.exits import EXIT_CONFIG
from xo_mcp.worker import settings as settings_module
from xo_mcp.worker.settings import (
    DEFAULT_DOCS_URL,
    DEFAULT_MAX_RESPONSE_CHARS,
    DEFAULT_TIMEOUT_S,
    ConfigError,
    load_settings,
)

URL = "https://xo.example.com"


def problems_of(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    return caught.value.problems


def test_token_mode_with_defaults() -> None:
    settings = load_settings({"XO_URL": URL + "/", "XO_TOKEN": "t0k"})
    assert settings.xo_url == URL  # trailing slash dropped, like the official client
    assert settings.credentials.token == "t0k"
    assert settings.credentials.mode == "token"
    assert settings.enable_actions is False
    assert settings.deny == ()
    assert settings.ca_bundle is None and settings.tls_insecure is False
    assert settings.docs_url == DEFAULT_DOCS_URL
    assert settings.timeout_s == DEFAULT_TIMEOUT_S == 30
    assert settings.max_response_chars == DEFAULT_MAX_RESPONSE_CHARS
    assert settings.instance is None
    assert settings.compact is False  # the official server's tools unless asked


@pytest.mark.parametrize(("value", "compact"), [("1", True), ("0", False), ("yes", False)])
def test_compact_tools_only_with_exactly_1(value: str, compact: bool) -> None:
    settings = load_settings({"XO_URL": URL, "XO_TOKEN": "t0k", "XO_MCP_COMPACT": value})
    assert settings.compact is compact  # as XO_MCP_ENABLE_ACTIONS: "1" and nothing else


def test_token_wins_over_username_and_password() -> None:
    env = {"XO_URL": URL, "XO_TOKEN": "t", "XO_USERNAME": "u", "XO_PASSWORD": "p"}
    credentials = load_settings(env).credentials
    assert credentials.mode == "token"
    assert credentials.username is None and credentials.password is None


def test_basic_mode() -> None:
    env = {"XO_URL": URL, "XO_USERNAME": "admin@example.com", "XO_PASSWORD": "s3cret"}
    credentials = load_settings(env).credentials
    assert credentials.mode == "basic"
    assert (credentials.username, credentials.password) == ("admin@example.com", "s3cret")


def test_credentials_never_show_their_secret() -> None:
    env = {"XO_URL": URL, "XO_USERNAME": "admin", "XO_PASSWORD": "s3cret"}
    settings = load_settings(env)
    assert "s3cret" not in repr(settings)
    token_settings = load_settings({"XO_URL": URL, "XO_TOKEN": "t0pSecret"})
    assert "t0pSecret" not in repr(token_settings)


def test_nothing_set_names_every_missing_variable() -> None:
    problems = problems_of({})
    text = "\n".join(problems)
    assert len(problems) == 2
    assert "XO_URL is missing" in problems[0]
    assert "XO_USERNAME and XO_PASSWORD missing" in text
    assert "XO_TOKEN" in text  # the alternative is named too


@pytest.mark.parametrize(
    ("given", "missing"),
    [({"XO_USERNAME": "u"}, "XO_PASSWORD"), ({"XO_PASSWORD": "p"}, "XO_USERNAME")],
)
def test_half_of_basic_auth_names_the_other_half(given: dict[str, str], missing: str) -> None:
    (problem,) = problems_of({"XO_URL": URL, **given})
    assert problem.startswith(f"{missing} missing")


def test_empty_values_count_as_missing() -> None:
    problems = problems_of({"XO_URL": "", "XO_TOKEN": "", "XO_USERNAME": "  "})
    assert any("XO_URL is missing" in p for p in problems)
    assert any("XO_USERNAME and XO_PASSWORD missing" in p for p in problems)


def test_token_file_is_read_and_stripped(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n", encoding="utf-8")
    settings = load_settings({"XO_URL": URL, "XO_TOKEN_FILE": str(secret)})
    assert settings.credentials.token == "from-file"


def test_password_file_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("pw\n", encoding="utf-8")
    env = {"XO_URL": URL, "XO_USERNAME": "u", "XO_PASSWORD_FILE": str(secret)}
    assert load_settings(env).credentials.password == "pw"


def test_unreadable_and_empty_secret_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    (problem,) = problems_of({"XO_URL": URL, "XO_TOKEN_FILE": str(tmp_path / "nope")})
    assert problem.startswith("XO_TOKEN_FILE=") and problem.endswith("nope: no such file")
    (problem,) = problems_of({"XO_URL": URL, "XO_TOKEN_FILE": str(empty)})
    assert "the file is empty" in problem
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # would block a plain open() until a writer came
    (problem,) = problems_of({"XO_URL": URL, "XO_TOKEN_FILE": str(fifo)})
    assert problem.endswith("fifo: not a regular file")
    env = {"XO_URL": URL, "XO_USERNAME": "u", "XO_PASSWORD_FILE": str(tmp_path / "nope")}
    (problem,) = problems_of(env)  # the unreadable file is the problem, not a missing password
    assert problem.startswith("XO_PASSWORD_FILE=")


def test_a_secret_and_its_file_contradict(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("x", encoding="utf-8")
    (problem,) = problems_of({"XO_URL": URL, "XO_TOKEN": "t", "XO_TOKEN_FILE": str(secret)})
    assert "XO_TOKEN and XO_TOKEN_FILE are both set" in problem


def launcher_socket(path: Path, answers: list[bytes]) -> threading.Thread:
    """A stand-in for the launcher's secret socket: one answer per connection (b"": refused)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(len(answers))

    def serve() -> None:
        with server:
            for answer in answers:
                connection, _ = server.accept()
                with connection:
                    connection.sendall(answer)

    thread = threading.Thread(target=serve)
    thread.start()
    return thread


def test_secret_from_the_fleet_launcher_socket(tmp_path: Path) -> None:
    path = tmp_path / "secret.sock"
    thread = launcher_socket(path, [b"socket-token\n"])
    env = {"XO_URL": URL, "XO_MCP_SECRET_SOCKET": str(path), "XO_MCP_SECRET_KIND": "token"}
    assert load_settings(env).credentials.token == "socket-token"
    thread.join(5)


def test_a_refused_secret_is_asked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher may refuse while supervisord reports no pid for the worker yet."""
    monkeypatch.setattr(settings_module, "SECRET_RETRY_S", 0.01)
    path = tmp_path / "secret.sock"
    thread = launcher_socket(path, [b"", b"", b"the-password"])
    env = {
        "XO_URL": URL,
        "XO_USERNAME": "u",
        "XO_MCP_SECRET_SOCKET": str(path),
        "XO_MCP_SECRET_KIND": "password",
    }
    assert load_settings(env).credentials.password == "the-password"
    thread.join(5)


def test_a_secret_refused_every_time_is_named_by_its_fleet_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "XO_PASSWORD missing" (the fleet file set password_env): what happened, by key."""
    monkeypatch.setattr(settings_module, "SECRET_RETRY_S", 0.01)
    path = tmp_path / "secret.sock"
    thread = launcher_socket(path, [b""] * settings_module.SECRET_ATTEMPTS)
    env = {
        "XO_URL": URL,
        "XO_USERNAME": "u",
        "XO_MCP_SECRET_SOCKET": str(path),
        "XO_MCP_SECRET_KIND": "password",
        "XO_MCP_FLEET_KEYS": "XO_PASSWORD=instances.lyon.password_env,XO_URL=instances.lyon.url",
    }
    (problem,) = problems_of(env)
    thread.join(5)
    assert problem == (
        "the fleet launcher did not hand over the password (instances.lyon.password_env) after "
        f"{settings_module.SECRET_ATTEMPTS} attempts; its log says why"
    )
    assert "XO_PASSWORD" not in problem


def test_in_a_fleet_problems_name_the_fleet_files_keys(tmp_path: Path) -> None:
    keys = "XO_URL=instances.a.url,XO_TOKEN_FILE=instances.a.token_file,"
    keys += "XO_TOKEN=instances.a.token_file"
    missing = tmp_path / "nope"
    problems = problems_of(
        {"XO_URL": "xo.example.com", "XO_TOKEN_FILE": str(missing), "XO_MCP_FLEET_KEYS": keys}
    )
    assert problems[0] == (
        "instances.a.url='xo.example.com' is not an http(s) URL such as https://xo.example.com"
    )
    assert problems[1].startswith(f"instances.a.token_file: {missing}")
    assert not any("XO_" in problem for problem in problems)
    settings = load_settings({"XO_URL": URL, "XO_TOKEN": "t", "XO_MCP_FLEET_KEYS": keys})
    assert settings.name_of("XO_TOKEN") == "instances.a.token_file"
    assert settings.name_of("XO_CA_BUNDLE") == "XO_CA_BUNDLE"  # not given: the variable


def test_deny_unknown_is_warn_or_error() -> None:
    assert load_settings({"XO_URL": URL, "XO_TOKEN": "t"}).deny_unknown == "warn"
    env = {"XO_URL": URL, "XO_TOKEN": "t", "XO_MCP_DENY_UNKNOWN": "error"}
    assert load_settings(env).deny_unknown == "error"
    (problem,) = problems_of({**env, "XO_MCP_DENY_UNKNOWN": "strict"})
    assert problem == "XO_MCP_DENY_UNKNOWN='strict' must be warn or error"


def test_control_characters_in_credentials_are_refused() -> None:
    (problem,) = problems_of({"XO_URL": URL, "XO_TOKEN": "abc\r\nX-Evil: 1"})
    assert "XO_TOKEN contains a line break" in problem
    (problem,) = problems_of({"XO_URL": URL, "XO_USERNAME": "a:b", "XO_PASSWORD": "p"})
    assert "XO_USERNAME must not contain ':'" in problem


@pytest.mark.parametrize(
    "url", ["xo.example.com", "ftp://xo.example.com", "http://", "http://[oops", "http://xo:99999"]
)
def test_xo_url_must_be_http(url: str) -> None:
    (problem,) = problems_of({"XO_URL": url, "XO_TOKEN": "t"})
    assert problem.startswith(f"XO_URL={url!r} is not an http(s) URL")


def test_actions_only_with_exactly_one() -> None:
    base = {"XO_URL": URL, "XO_TOKEN": "t"}
    assert load_settings({**base, "XO_MCP_ENABLE_ACTIONS": "1"}).enable_actions is True
    for value in ("true", "yes", "0", " 1", ""):
        assert load_settings({**base, "XO_MCP_ENABLE_ACTIONS": value}).enable_actions is False


def test_deny_list_is_split_and_trimmed() -> None:
    env = {"XO_URL": URL, "XO_TOKEN": "t", "XO_MCP_DENY_LIST": " DeleteVm, ,DELETE /vms/{id} ,"}
    assert load_settings(env).deny == ("DeleteVm", "DELETE /vms/{id}")


def test_proxy_variables_are_read() -> None:
    env = {
        "XO_URL": URL,
        "XO_TOKEN": "t",
        "HTTPS_PROXY": "http://proxy:3128",
        "no_proxy": "xo.internal,.corp",
    }
    proxy = load_settings(env).proxy
    assert proxy.https == "http://proxy:3128"
    assert proxy.no_proxy == ("xo.internal", ".corp")


def test_tls_options(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    base = {"XO_URL": URL, "XO_TOKEN": "t"}
    assert load_settings({**base, "XO_CA_BUNDLE": str(bundle)}).ca_bundle == bundle
    assert load_settings({**base, "XO_TLS_INSECURE": "1"}).tls_insecure is True
    (problem,) = problems_of({**base, "XO_CA_BUNDLE": str(tmp_path / "missing.pem")})
    assert "XO_CA_BUNDLE=" in problem and "no such file" in problem
    (problem,) = problems_of({**base, "XO_CA_BUNDLE": str(bundle), "XO_TLS_INSECURE": "1"})
    assert "contradict" in problem


def test_docs_url() -> None:
    base = {"XO_URL": URL, "XO_TOKEN": "t"}
    settings = load_settings({**base, "XO_DOCS_URL": "http://127.0.0.1:8000/mirror/"})
    assert settings.docs_url == "http://127.0.0.1:8000/mirror"
    (problem,) = problems_of({**base, "XO_DOCS_URL": "file:///docs"})
    assert problem.startswith("XO_DOCS_URL=")


def test_numbers() -> None:
    base = {"XO_URL": URL, "XO_TOKEN": "t"}
    settings = load_settings(
        {
            **base,
            "XO_MCP_TIMEOUT": "2.5",
            "XO_MCP_MAX_RESPONSE_CHARS": "5000",
            "XO_MCP_WAIT_TIMEOUT": "7",
            "XO_MCP_INSTANCE": "production",
        }
    )
    assert settings.timeout_s == 2.5
    assert settings.max_response_chars == 5000
    assert settings.wait_timeout_s == 7
    assert settings.instance == "production"


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", "-inf"])
def test_bad_numbers_are_refused(value: str) -> None:
    (problem,) = problems_of({"XO_URL": URL, "XO_TOKEN": "t", "XO_MCP_TIMEOUT": value})
    assert problem == f"XO_MCP_TIMEOUT={value!r} must be a positive number"


@pytest.mark.parametrize("name", ["a.b", "-x", "with space", "x" * 64, "é"])
def test_instance_names_that_would_confuse_tokens(name: str) -> None:
    (problem,) = problems_of({"XO_URL": URL, "XO_TOKEN": "t", "XO_MCP_INSTANCE": name})
    assert problem.startswith("XO_MCP_INSTANCE=")


def test_response_cap_must_be_whole() -> None:
    env = {"XO_URL": URL, "XO_TOKEN": "t", "XO_MCP_MAX_RESPONSE_CHARS": "1.5"}
    (problem,) = problems_of(env)
    assert "whole number" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = problems_of(
        {
            "XO_URL": "nope",
            "XO_USERNAME": "u",
            "XO_CA_BUNDLE": str(tmp_path / "missing.pem"),
            "XO_MCP_TIMEOUT": "soon",
            "XO_MCP_WAIT_TIMEOUT": "0",
            "XO_DOCS_URL": "gopher://x",
        }
    )
    joined = "\n".join(problems)
    for name in ("XO_URL", "XO_PASSWORD", "XO_CA_BUNDLE", "XO_MCP_TIMEOUT"):
        assert name in joined
    assert "XO_MCP_WAIT_TIMEOUT" in joined and "XO_DOCS_URL" in joined
    assert len(problems) == 6


# --- through the command line -------------------------------------------------------------


def run_worker(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "xo_mcp.worker", *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_exits_2_and_lists_every_problem() -> None:
    result = run_worker()
    assert result.returncode == EXIT_CONFIG == 2
    assert result.stdout == ""  # stdout belongs to the MCP protocol
    assert "configuration error" in result.stderr
    assert "XO_URL is missing" in result.stderr
    assert "XO_USERNAME and XO_PASSWORD missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_help_lists_the_variables_and_exit_codes() -> None:
    result = run_worker("--help")
    assert result.returncode == 0
    for name in ("XO_URL", "XO_TOKEN_FILE", "XO_MCP_DENY_LIST", "NO_PROXY", "XO_CA_BUNDLE"):
        assert name in result.stdout
    assert "3  MCP disabled" in result.stdout


@pytest.mark.parametrize("address", ["0.0.0.0:8000", "192.0.2.1:8000", "example.com:80"])
def test_cli_refuses_a_non_loopback_listen(address: str) -> None:
    result = run_worker("--listen", address, XO_URL="http://127.0.0.1:1", XO_TOKEN="t")
    assert result.returncode == EXIT_CONFIG
    assert f"refusing to listen on {address}" in result.stderr


@pytest.mark.parametrize("address", ["nonsense", "unix:", "127.0.0.1:99999"])
def test_cli_refuses_a_malformed_listen(address: str) -> None:
    result = run_worker("--listen", address, XO_URL="http://127.0.0.1:1", XO_TOKEN="t")
    assert result.returncode == EXIT_CONFIG
    assert "--listen" in result.stderr and "Traceback" not in result.stderr
