#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine.
#
# - `docker info` already works: nothing to do.
# - docker CLI/engine missing: install Debian's `docker.io` package (needs root).
# - engine installed but not running and no systemd (containers, CI runners):
#   start `dockerd` in the background as root, log to $PGSWARM_DOCKERD_LOG,
#   and wait until it answers.
# Idempotent; prints what it does.
set -euo pipefail

log() { printf '[docker-engine] %s\n' "$*" >&2; }
DOCKERD_LOG="${PGSWARM_DOCKERD_LOG:-/var/log/pgswarm-dockerd.log}"
WAIT_SECS="${PGSWARM_DOCKERD_WAIT:-60}"

if docker info >/dev/null 2>&1; then
  log "engine is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    log "need root to run: $*"; exit 1; fi
}

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing Debian's docker.io package"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
fi

# systemd present and running: let it manage the engine.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  log "starting docker via systemd"
  as_root systemctl start docker || true
fi

if ! docker info >/dev/null 2>&1; then
  if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is running but not answering yet; waiting"
  else
    log "starting dockerd in the background (log: $DOCKERD_LOG)"
    as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
    # setsid: the daemon must outlive this script and its process group.
    as_root setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  fi
fi

for ((i = 0; i < WAIT_SECS; i++)); do
  if docker info >/dev/null 2>&1; then
    log "engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within ${WAIT_SECS}s; last lines of $DOCKERD_LOG:"
tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
exit 1
