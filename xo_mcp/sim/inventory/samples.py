"""The fixed names, OS versions, CPU models, patches and messages a seeded inventory draws from."""

from __future__ import annotations

import re
from typing import Any

from xo_mcp.sim.inventory.base import MIB

POOL_SITES = (
    ("Paris DC1", "par"),
    ("Lyon DC2", "lyo"),
    ("Grenoble lab", "gre"),
    ("Amsterdam edge", "ams"),
    ("Frankfurt DR", "fra"),
    ("London office", "lon"),
    ("Madrid DC", "mad"),
    ("Milan DC", "mil"),
)
VM_ROLES = ("web", "db", "app", "cache", "proxy", "ci", "mail", "monitor", "dns", "k8s-node")
OSES: tuple[dict[str, str], ...] = (
    {
        "name": "Debian GNU/Linux 12 (bookworm)",
        "distro": "debian",
        "major": "12",
        "minor": "9",
        "uname": "6.1.0-30-amd64",
    },
    {
        "name": "Alpine Linux v3.21",
        "distro": "alpine",
        "major": "3",
        "minor": "21",
        "uname": "6.12.13-0-lts",
    },
    {
        "name": "Ubuntu 24.04.1 LTS",
        "distro": "ubuntu",
        "major": "24",
        "minor": "04",
        "uname": "6.8.0-51-generic",
    },
    {
        "name": "Rocky Linux 9.5 (Blue Onyx)",
        "distro": "rocky",
        "major": "9",
        "minor": "5",
        "uname": "5.14.0-503.14.1.el9_5.x86_64",
    },
    {
        "name": "Microsoft Windows Server 2022 Standard|C:\\Windows"
        "|\\Device\\Harddisk0\\Partition2",
        "distro": "windows",
        "major": "10",
        "minor": "0",
        "build": "20348",
    },
)
HOST_CPUS = (
    ("Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz", "GenuineIntel", 24, 2, "2394.374"),
    ("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "GenuineIntel", 64, 2, "1995.312"),
    ("AMD EPYC 7313P 16-Core Processor", "AuthenticAMD", 32, 1, "2994.374"),
)
TEMPLATES = (
    ("Debian Bookworm 12", OSES[0]),
    ("Ubuntu Noble Numbat 24.04", OSES[2]),
    ("Windows Server 2022 (64-bit)", OSES[4]),
    ("Rocky Linux 9", OSES[3]),
    ("Alpine Linux 3.21", OSES[1]),
    ("Other install media", None),
)
ISOS = (
    ("alpine-virt-3.21.2-x86_64.iso", 65 * MIB),
    ("debian-12.9.0-amd64-netinst.iso", 632 * MIB),
    ("SERVER_EVAL_x64FRE_en-us.iso", 4_700 * MIB),
)
PATCHES: tuple[dict[str, Any], ...] = (
    {
        "name": "xapi-core",
        "version": "25.6.0",
        "release": "1.12.xcpng8.3",
        "description": "xapi - xen toolstack for XCP",
        "license": "LGPL+linking exception",
        "size": 6_389_120,
    },
    {
        "name": "xen-hypervisor",
        "version": "4.17.5",
        "release": "6.xcpng8.3",
        "description": "The Xen Hypervisor",
        "license": "GPLv2 and LGPLv2 and BSD",
        "size": 2_843_500,
    },
    {
        "name": "kernel",
        "version": "4.19.19",
        "release": "8.0.38.1.xcpng8.3",
        "description": "The Linux kernel",
        "license": "GPLv2",
        "size": 31_270_912,
    },
    {
        "name": "sm",
        "version": "3.2.3",
        "release": "1.14.xcpng8.3",
        "description": "sm - XCP storage managers",
        "license": "LGPL",
        "size": 1_093_632,
    },
    {
        "name": "openssl",
        "version": "1.1.1k",
        "release": "12.1.xcpng8.3",
        "description": "Utilities from the general purpose cryptography library with TLS",
        "license": "OpenSSL",
        "size": 721_456,
    },
    {
        "name": "xcp-ng-release",
        "version": "8.3.0",
        "release": "32",
        "description": "XCP-ng release file",
        "license": "GPLv2",
        "size": 48_212,
    },
)
MESSAGE_KINDS: tuple[tuple[str, str, str], ...] = (
    ("VM_STARTED", "vms", "VM '{name}' started"),
    ("VM_SHUTDOWN", "vms", "VM '{name}' shut down"),
    ("VM_SNAPSHOTTED", "vms", "VM '{name}' snapshotted"),
    ("VM_REBOOTED", "vms", "VM '{name}' rebooted"),
    ("HOST_CLOCK_SKEW_DETECTED", "hosts", "The clock of host '{name}' is 3 seconds off"),
    ("PBD_PLUG_FAILED_ON_SERVER_START", "hosts", "PBD plug failed on '{name}' during startup"),
    ("HA_POOL_OVERCOMMITTED", "pools", "The pool '{name}' can no longer tolerate a host failure"),
    ("SR_LARGE_ALLOCATION", "srs", "SR '{name}' allocated a large virtual disk"),
)
ALARM_BODY = (
    'value: {value:.6f}\nconfig:\n<variable>\n\t<name value="{name}"/>\n'
    '\t<alarm_trigger_level value="{level}"/>\n\t<alarm_trigger_period value="60"/>\n'
    '\t<alarm_auto_inhibit_period value="3600"/>\n</variable>'
)
ALARM_VALUE = re.compile(r"^value:\s*([-0-9.eE]+)", re.MULTILINE)
ALARM_VAR = re.compile(r'<name value="([^"]+)"')
