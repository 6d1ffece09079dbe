"""The watch: which files it follows, and the changes it sees (content, not names or times)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest
from support.fleetfile import client, fleet_toml, instance, kubernetes_volume
from support.processes import replace_file, secret_file

from xo_mcp.fleet.config import ReloadSettings
from xo_mcp.fleet.watch import FileWatch, named_files

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9"


def test_it_follows_the_secret_files_and_bundles_the_file_names(tmp_path: Path) -> None:
    text = fleet_toml(
        instances={
            "alpha": instance(URL, token_file="/run/secrets/a", ca_bundle="/etc/ca.pem"),
            "beta": instance(URL, username="u", password_file="/run/secrets/b"),
            "gamma": instance(URL, token_env="GAMMA"),
        },
        clients=[client("ops", token_file="/run/secrets/ops"), client("env", token_env="X")],
    )
    assert named_files(text) == [
        Path("/run/secrets/a"),
        Path("/etc/ca.pem"),
        Path("/run/secrets/b"),
        Path("/run/secrets/ops"),
    ]


def test_it_finds_them_in_a_file_that_is_invalid_as_a_whole() -> None:
    # A reload refused for a missing secret is tried again once the secret appears.
    text = '[instances.alpha]\nurl = 5\ntoken_file = "/run/secrets/later"\nbogus = 1\n'
    assert named_files(text) == [Path("/run/secrets/later")]
    assert named_files("[instances.alpha\n") == []


def test_content_counts_not_times_or_names(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    token = secret_file(tmp_path, "token", "one")
    config.write_text(fleet_toml(instances={"alpha": instance(URL, token_file=token)}))
    watch = FileWatch(config)
    watch.snapshot(config.read_text())
    os.utime(config, (time.time() + 60, time.time() + 60))
    replace_file(token, "one\n")  # a new file, same secret
    assert watch.changed() == []
    replace_file(token, "two")
    assert watch.changed() == [token]
    watch.snapshot(config.read_text())
    assert watch.changed() == []


def test_a_secret_that_appears_is_a_change(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    later = tmp_path / "later"
    config.write_text(fleet_toml(instances={"alpha": instance(URL, token_file=later)}))
    watch = FileWatch(config)
    watch.snapshot(config.read_text())
    assert watch.changed() == []
    secret_file(tmp_path, "later", "now")
    assert watch.changed() == [later]


async def test_a_configmap_swap_is_noticed_once(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    text = fleet_toml(instances={"alpha": instance(URL, token_env="A")})
    kubernetes_volume(volume, {"fleet.toml": text}, 1)
    config = volume / "fleet.toml"
    watch = FileWatch(config)
    watch.snapshot(config.read_text())
    asked: list[str] = []
    settings = ReloadSettings(poll_s=0.5)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch.run, lambda: settings, asked.append)
        await anyio.sleep(1.2)
        assert asked == []  # nothing changed: nothing asked
        kubernetes_volume(volume, {"fleet.toml": text.replace("A", "B")}, 2)
        with anyio.fail_after(10):  # the promise: a Kubernetes update is seen within 10 s
            while not asked:
                await anyio.sleep(0.05)
        await anyio.sleep(1.2)
        tasks.cancel_scope.cancel()
    assert asked == [f"{config} changed"]  # once per change


async def test_watch_false_asks_for_nothing(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(fleet_toml(instances={"alpha": instance(URL, token_env="A")}))
    watch = FileWatch(config)
    watch.snapshot(config.read_text())
    asked: list[str] = []
    settings = ReloadSettings(watch=False, poll_s=0.5)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch.run, lambda: settings, asked.append)
        config.write_text(fleet_toml(instances={"beta": instance(URL, token_env="A")}))
        await anyio.sleep(1.5)
        tasks.cancel_scope.cancel()
    assert asked == []
