#!/usr/bin/env bash
# The build stage's base image, made locally: Debian bookworm minbase + Python 3.11, imported
# into the engine as $XO_MCP_BASE_IMAGE (default xo-mcp-base:bookworm).
#
# Where Docker Hub answers, skip this and build with an upstream base instead:
#   docker build --build-arg BASE_IMAGE=python:3.11-slim-bookworm ...
#
# Skips the work when the image exists (XO_MCP_FORCE_BASE=1 rebuilds it).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${XO_MCP_BASE_IMAGE:-xo-mcp-base:bookworm}
SUITE=${XO_MCP_BASE_SUITE:-bookworm}
MIRROR=${XO_MCP_BASE_MIRROR:-http://deb.debian.org/debian}
# python3-minimal + libpython3.11-stdlib: the interpreter and the standard library, no pip;
# ca-certificates: the trust store copied into the runtime image.
PACKAGES=python3-minimal,libpython3.11-stdlib,ca-certificates

say() { printf 'base-image: %s\n' "$*" >&2; }

if [ "${XO_MCP_FORCE_BASE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "$IMAGE exists; keeping it (XO_MCP_FORCE_BASE=1 rebuilds it)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  say "debootstrap needs root"
  exit 1
fi
command -v debootstrap >/dev/null 2>&1 || "$REPO/scripts/engine.sh" start

ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/xo-mcp-base.XXXXXX")
trap 'rm -rf "$ROOTFS"' EXIT

say "debootstrap --variant=minbase $SUITE ($PACKAGES) from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" \
  >"$ROOTFS.log" 2>&1 || {
  tail -n 30 "$ROOTFS.log" >&2
  exit 1
}
rm -f "$ROOTFS.log"
# Caches and lists only make the image bigger; nothing in the build stage runs apt.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*

CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
say "importing as $IMAGE"
tar -C "$ROOTFS" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/usr/bin/python3"]' \
  --message "debootstrap --variant=minbase $SUITE + $PACKAGES ($CREATED)" \
  - "$IMAGE" >/dev/null
docker image inspect "$IMAGE" --format 'base-image: {{.RepoTags}} {{.Size}} bytes' >&2
