#!/usr/bin/env bash
# The real servers some tests start themselves: Debian's redis-server and haproxy.
# Installed here when missing and we may (root); otherwise the tests that need them say so
# (and fail under CI=true). Idempotent.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-peers: ${missing[*]} missing and cannot be installed here (not root with apt-get)" >&2
  exit 0
fi
echo "test-peers: installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged services where an init system runs: the tests start their own.
for service in redis-server haproxy; do
  command -v service >/dev/null 2>&1 && service "$service" stop >/dev/null 2>&1 || true
done
