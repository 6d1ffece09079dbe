#!/usr/bin/env bash
# Claude Code: xo-mcp in its hardened container (`claude mcp add NAME -- COMMAND...`).
# The flags: read-only root filesystem with a private /tmp, no capabilities, no privilege
# gain (setuid), a non-root uid, and caps on processes, memory and CPU.
# Secrets never appear in the arguments: `-e NAME` passes a value from the environment that
# `--env` gives the server entry, and files are mounted read-only.

# One XO, a drop-in for `npx @xen-orchestra/mcp` (same variables):
claude mcp add xo \
  --env XO_URL=https://xo.example.com \
  --env XO_TOKEN="$(cat ~/.config/xo-mcp/secrets/production-token)" \
  -- docker run -i --rm --init \
  --read-only --tmpfs /tmp:rw,noexec,nosuid,nodev,size=16m \
  --cap-drop ALL --security-opt no-new-privileges \
  --user 65532:65532 --pids-limit 64 --memory 256m --cpus 1 \
  -e XO_URL -e XO_TOKEN \
  --entrypoint /opt/xo-mcp/bin/xo-mcp \
  xo-mcp:0.1.0 --sandbox warn

# A fleet (configs/clients/fleet.toml at ~/.config/xo-mcp/fleet.toml), one tool surface:
claude mcp add xo-fleet \
  --env XO_STAGING_PASSWORD="$(cat ~/.config/xo-mcp/staging-password)" \
  -- docker run -i --rm \
  --read-only --tmpfs /tmp:rw,noexec,nosuid,nodev,size=32m \
  --cap-drop ALL --security-opt no-new-privileges \
  --user 65532:65532 --pids-limit 128 --memory 512m --cpus 1 \
  -v "$HOME/.config/xo-mcp/fleet.toml:/etc/xo-mcp/fleet.toml:ro" \
  -v "$HOME/.config/xo-mcp/secrets:/run/secrets/xo-mcp:ro" \
  -e XO_STAGING_PASSWORD \
  xo-mcp:0.1.0

# The same fleet over its HTTP port, started once in the background; the port is published
# on loopback only and MCP paths need a bearer token: configs/clients/fleet-http.toml (at
# ~/.config/xo-mcp/fleet-http.toml) names the client, whose token is the secrets folder's
# gateway-token (`run --listen 0.0.0.0:8080` refuses a fleet file without clients):
#   docker run -d --name xo-mcp --restart on-failure:5 \
#     --read-only --tmpfs /tmp:rw,noexec,nosuid,nodev,size=32m \
#     --cap-drop ALL --security-opt no-new-privileges \
#     --user 65532:65532 --pids-limit 128 --memory 512m --cpus 1 \
#     -p 127.0.0.1:8080:8080 \
#     -v "$HOME/.config/xo-mcp/fleet-http.toml:/etc/xo-mcp/fleet.toml:ro" \
#     -v "$HOME/.config/xo-mcp/secrets:/run/secrets/xo-mcp:ro" \
#     -e XO_STAGING_PASSWORD \
#     xo-mcp:0.1.0 run --listen 0.0.0.0:8080
claude mcp add --transport http xo-fleet-http http://127.0.0.1:8080/mcp \
  --header "Authorization: Bearer $(cat ~/.config/xo-mcp/secrets/gateway-token)"
