"""`xo-mcp-fleet init`: a starter fleet file, written with tomli-w, each table explained."""

from __future__ import annotations

from typing import Any

import tomli_w

_SECTIONS: list[tuple[str, dict[str, Any]]] = [
    (
        "# xo-mcp fleet file: one worker per Xen Orchestra instance, one gateway in front.\n"
        "# Check it with `xo-mcp-fleet check FILE`; every key is described in\n"
        "# configs/fleet.example.toml. Unknown keys are errors.\n"
        '# sandbox: "warn" (default) runs without Landlock if the kernel lacks it, "required"\n'
        '# refuses to, "off" disables per-worker isolation.',
        {"sandbox": "warn"},
    ),
    (
        "# The HTTP port (omit `listen` to serve stdio only, as with `docker run -i`).",
        {"gateway": {"listen": "127.0.0.1:8080"}},
    ),
    (
        "# Bearer tokens accepted on the HTTP port, each limited to some instances.",
        {
            "gateway": {
                "clients": [
                    {
                        "name": "ops-assistant",
                        "token_file": "/run/secrets/gw-ops",
                        "instances": ["staging"],
                        "read_only": True,
                    }
                ]
            }
        },
    ),
    (
        "# Applied to every instance unless it says otherwise.",
        {"defaults": {"timeout_s": 30, "actions": False}},
    ),
    (
        "# One table per XO instance. Secrets come from files (token_file, password_file) or\n"
        "# from named environment variables (token_env, password_env), never inline.",
        {
            "instances": {
                "production": {
                    "url": "https://xo.prod.example.com",
                    "token_file": "/run/secrets/xo-production-token",
                    "deny": ["DeleteVm", "HardShutdownVm"],
                }
            }
        },
    ),
    (
        "# A per-instance proxy overrides the container's HTTP(S)_PROXY / NO_PROXY.",
        {
            "instances": {
                "staging": {
                    "url": "https://xo.staging.example.com",
                    "username": "mcp@example.com",
                    "password_env": "XO_STAGING_PASSWORD",
                    "actions": True,
                    "proxy": {
                        "https": "http://proxy.corp.example:3128",
                        "no_proxy": ["xo.staging.example.com"],
                    },
                }
            }
        },
    ),
]


def starter_text() -> str:
    return "\n".join(f"{comment}\n{tomli_w.dumps(values)}" for comment, values in _SECTIONS)
