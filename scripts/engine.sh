#!/usr/bin/env bash
# A Docker engine for building and testing the image on a machine where none runs.
#
#   scripts/engine.sh start   install docker.io + debootstrap if missing, start dockerd, wait
#   scripts/engine.sh stop    stop the dockerd this script started (never one it did not start)
#   scripts/engine.sh status  exit 0 when `docker info` answers
#
# Idempotent: an engine that already answers is used as it is. The pid of an engine this script
# started is kept in build/dockerd.pid (its log in build/dockerd.log), so `stop` ends that one
# process only.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${XO_MCP_BUILD_DIR:-$REPO/build}
PIDFILE=$BUILD/dockerd.pid
LOG=$BUILD/dockerd.log
WAIT_S=${XO_MCP_ENGINE_WAIT_S:-90}

say() { printf 'engine: %s\n' "$*" >&2; }

answers() { docker info >/dev/null 2>&1; }

install_missing() {
  local wanted=()
  command -v dockerd >/dev/null 2>&1 || wanted+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || wanted+=(debootstrap)
  [ ${#wanted[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "missing ${wanted[*]} and not root: install them with apt-get, then retry"
    exit 1
  fi
  say "installing ${wanted[*]} (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${wanted[@]}" >/dev/null
}

start() {
  if answers; then
    say "an engine already answers; using it"
    return 0
  fi
  install_missing
  mkdir -p "$BUILD"
  say "starting dockerd (log: $LOG)"
  # setsid: the engine must not share the caller's process group (make's Ctrl-C, CI's trap).
  setsid dockerd >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local waited=0
  until answers; do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      say "dockerd exited; last lines of $LOG:"
      tail -n 20 "$LOG" >&2
      rm -f "$PIDFILE"
      exit 1
    fi
    if [ "$waited" -ge "$WAIT_S" ]; then
      say "dockerd did not answer within ${WAIT_S}s; see $LOG"
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "dockerd answers after ${waited}s: $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
}

stop() {
  if [ ! -f "$PIDFILE" ]; then
    say "no engine started by this script; nothing to stop"
    return 0
  fi
  local pid
  pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "dockerd still running after 30s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) answers ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
