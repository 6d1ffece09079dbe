"""supervisor/ holds supervisord's side of the fleet as files a reviewer can read: the base
configuration and the per-instance program template that `render` fills, and the whole file as
the image renders it for configs/fleet.example.toml. This test keeps the three in agreement."""

from __future__ import annotations

import os
from pathlib import Path

from supervisor.options import ServerOptions
from support.processes import REPO

from xo_mcp.core import RuntimeLayout
from xo_mcp.fleet.config import load_fleet
from xo_mcp.fleet.render import password_hash, render_supervisord_conf

FOLDER = REPO / "supervisor"
EXAMPLE = REPO / "configs" / "fleet.example.toml"
GOLDEN = FOLDER / "rendered-example.conf"
IMAGE_PYTHON = "/opt/xo-mcp/bin/python"
UPDATE = "XO_MCP_UPDATE_GOLDEN"


def rendered_as_in_the_image() -> str:
    """The example fleet rendered as the image's launcher does: PID 1, uid 65532, its Python,
    and (here) the password "example" instead of a fresh random one."""
    fleet = load_fleet(EXAMPLE, check_secrets=False)
    text = render_supervisord_conf(
        fleet, RuntimeLayout(fleet.runtime_dir), "example", python=IMAGE_PYTHON
    )
    text = text.replace(f'XO_MCP_GATEWAY_PID="{os.getpid()}"', 'XO_MCP_GATEWAY_PID="1"')
    return text.replace("\nuser=root", "")  # root gets that line; the image's uid does not


def test_the_templates_are_the_package_data() -> None:
    """Rendering reads supervisor/ itself (packaged through a link), never a copy."""
    link = REPO / "xo_mcp" / "fleet" / "supervisor_conf"
    assert link.is_symlink() and link.resolve() == FOLDER.resolve()
    assert {p.name for p in FOLDER.glob("*.conf")} >= {"supervisord.conf", "program.conf"}
    assert not (FOLDER / "__init__.py").exists()  # never an importable `supervisor`


def test_the_rendered_example_is_up_to_date() -> None:
    text = rendered_as_in_the_image()
    if os.environ.get(UPDATE):
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.read_text(encoding="utf-8") == text, (
        f"supervisor/ changed: regenerate the example with {UPDATE}=1 pytest {__file__}"
    )


def test_every_line_of_the_templates_is_in_the_rendered_file() -> None:
    rendered = GOLDEN.read_text(encoding="utf-8").splitlines()
    for name in ("supervisord.conf", "program.conf"):
        for line in (FOLDER / name).read_text(encoding="utf-8").splitlines():
            if "${" not in line:
                assert line in rendered, f"{name}: {line!r}"
    assert f"password={password_hash('example')}" in rendered
    assert sum(line.startswith("[program:") for line in rendered) == 2


def test_supervisord_reads_the_rendered_example(tmp_path: Path) -> None:
    for folder in ("control", "logs"):  # supervisord wants the directories of its own files
        (tmp_path / folder).mkdir()
    conf = tmp_path / "supervisord.conf"
    text = GOLDEN.read_text(encoding="utf-8").replace("/tmp/xo-mcp", str(tmp_path))
    conf.write_text(text, encoding="utf-8")
    options = ServerOptions()
    options.realize(["-c", str(conf)])
    programs = {group.name: group.process_configs[0] for group in options.process_group_configs}
    assert sorted(programs) == ["production", "staging"]
    assert programs["production"].command.startswith(f"{IMAGE_PYTHON} -m xo_mcp.worker")
    assert programs["staging"].exitcodes == [3, 4]
