"""What a reload restarts: only the instances whose worker would run differently, or whose
secret changed under the same path; clients never restart anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.fleetfile import client, fleet_toml, instance
from support.processes import replace_file, secret_file

from xo_mcp.core import RuntimeLayout
from xo_mcp.fleet.changes import SECRET_CHANGED, SETTINGS_CHANGED, Snapshot, changes
from xo_mcp.fleet.config import parse_fleet
from xo_mcp.fleet.reload import snapshot

URL = "http://127.0.0.1:9"


def load(tmp_path: Path, env: dict[str, str] | None = None, **document: Any) -> Snapshot:
    text = f'runtime_dir = "{tmp_path / "run"}"\n' + fleet_toml(**document)
    fleet = parse_fleet(text, "fleet.toml", env or {}, check_secrets=False)
    return snapshot(fleet, RuntimeLayout(fleet.runtime_dir), env or {})


def test_only_what_changed_restarts(tmp_path: Path) -> None:
    token = secret_file(tmp_path, "token", "t1")
    kept = instance(URL, token_file=token)
    old = load(
        tmp_path,
        instances={"alpha": kept, "beta": kept, "gamma": kept, "delta": {**kept, "actions": True}},
    )
    new = load(
        tmp_path,
        instances={
            "alpha": kept,
            "gamma": {**kept, "deny": ["DeleteVm"]},  # its settings
            "delta": {**kept, "actions": True, "url": "http://127.0.0.1:10"},  # its XO
            "epsilon": kept,
        },
    )
    found = changes(old, new)
    assert found.added == ["epsilon"]
    assert found.removed == ["beta"]
    assert found.restarted == {"gamma": SETTINGS_CHANGED, "delta": SETTINGS_CHANGED}
    assert found.workers
    assert found.summary().startswith("added epsilon; removed beta; restarted gamma")


def test_the_same_file_changes_nothing(tmp_path: Path) -> None:
    token = secret_file(tmp_path, "token", "t1")
    document = {"instances": {"alpha": instance(URL, token_file=token)}}
    found = changes(load(tmp_path, **document), load(tmp_path, **document))
    assert not found.workers and found.clients == [] and found.fixed == []
    assert found.summary() == "nothing changed"


def test_a_rotated_secret_file_restarts_its_worker_only(tmp_path: Path) -> None:
    alpha = secret_file(tmp_path, "alpha", "a1")
    beta = secret_file(tmp_path, "beta", "b1")
    document = {
        "instances": {
            "alpha": instance(URL, token_file=alpha),
            "beta": instance(URL, username="u", password_file=beta),
        }
    }
    old = load(tmp_path, **document)
    replace_file(alpha, "a2\n")
    found = changes(old, load(tmp_path, **document))
    assert found.restarted == {"alpha": SECRET_CHANGED}
    assert found.added == found.removed == []


def test_a_changed_ca_bundle_restarts_its_worker(tmp_path: Path) -> None:
    token = secret_file(tmp_path, "token", "t1")
    bundle = secret_file(tmp_path, "ca.pem", "first")
    document = {"instances": {"alpha": instance(URL, token_file=token, ca_bundle=bundle)}}
    old = load(tmp_path, **document)
    replace_file(bundle, "second")
    assert changes(old, load(tmp_path, **document)).restarted == {"alpha": SECRET_CHANGED}


def test_a_secret_variable_with_another_value_restarts_its_worker(tmp_path: Path) -> None:
    document = {"instances": {"alpha": instance(URL, token_env="ALPHA")}}
    old = load(tmp_path, {"ALPHA": "one", "OTHER": "two"}, **document)
    renamed = {"instances": {"alpha": instance(URL, token_env="OTHER")}}
    same = load(tmp_path, {"ALPHA": "one", "OTHER": "one"}, **renamed)
    other = load(tmp_path, {"ALPHA": "one", "OTHER": "two"}, **renamed)
    # The rendered program is the same (the value goes through the launcher's socket).
    assert same.sections == old.sections
    assert changes(old, same).restarted == {}
    assert changes(old, other).restarted == {"alpha": SECRET_CHANGED}


def test_clients_change_without_restarting_a_worker(tmp_path: Path) -> None:
    token = secret_file(tmp_path, "token", "t1")
    ops = secret_file(tmp_path, "ops", "ops-1")
    admin = secret_file(tmp_path, "admin", "admin-1")
    instances = {"alpha": instance(URL, token_file=token)}
    old = load(
        tmp_path,
        instances=instances,
        clients=[client("ops", token_file=ops), client("admin", token_file=admin)],
    )
    replace_file(ops, "ops-2")
    new = load(
        tmp_path,
        instances=instances,
        clients=[
            client("ops", token_file=ops),
            client("admin", token_file=admin, read_only=True),
            client("viewer", token_file=ops),
        ],
    )
    found = changes(old, new)
    assert not found.workers
    assert found.clients == [
        "client added: viewer",
        "client changed: admin",
        "client token rotated: ops",
    ]
    assert "ops-2" not in found.summary()  # names, never tokens


def test_keys_the_running_fleet_cannot_change_are_named(tmp_path: Path) -> None:
    token = secret_file(tmp_path, "token", "t1")
    instances = {"alpha": instance(URL, token_file=token)}
    old = load(tmp_path, instances=instances, gateway={"listen": "127.0.0.1:8080"})
    new = load(
        tmp_path,
        instances=instances,
        gateway={"listen": "127.0.0.1:8081", "max_request_bytes": 4096},
    )
    found = changes(old, new)
    assert found.fixed == ["gateway.listen", "gateway.max_request_bytes"]
    assert not found.workers
