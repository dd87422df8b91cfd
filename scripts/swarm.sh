#!/usr/bin/env bash
# Make sure this engine is a swarm manager: `docker swarm init` when it is in
# no swarm. Advertise address: $PGSWARM_ADVERTISE_ADDR (default 127.0.0.1,
# right for a one-machine swarm; use the machine's LAN address to add nodes).
set -euo pipefail
log() { printf '[swarm] %s\n' "$*" >&2; }
ADDR="${PGSWARM_ADVERTISE_ADDR:-127.0.0.1}"

state="$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true)"
case "$state" in
  active)
    if [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" != "true" ]; then
      log "this engine is a swarm worker; run pgswarm on a manager"; exit 1
    fi
    log "swarm is active (node $(docker info --format '{{.Swarm.NodeID}}'))"; exit 0 ;;
  inactive|"")
    log "initialising a one-node swarm (advertise $ADDR)"
    docker swarm init --advertise-addr "$ADDR" >/dev/null
    log "swarm is active" ;;
  *)
    log "swarm state is '$state'; wait or run 'docker swarm leave --force'"; exit 1 ;;
esac
