#!/usr/bin/env bash
# Make sure the base image debian:trixie-slim exists locally.
#   1. `docker image inspect` finds it: done.
#   2. `docker pull` works (a registry is reachable): done.
#   3. Otherwise build it with debootstrap (minbase variant) from the Debian
#      mirror this machine's apt already uses, and `docker import` it.
# The mirror is read at run time from apt's own sources (or $PGSWARM_DEBIAN_MIRROR);
# no mirror host name is kept in this repository.
set -euo pipefail
log() { printf '[base-image] %s\n' "$*" >&2; }
IMAGE="${PGSWARM_BASE_IMAGE:-debian:trixie-slim}"
SUITE="${PGSWARM_BASE_SUITE:-trixie}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE is present"; exit 0
fi
log "trying: docker pull $IMAGE"
if timeout "${PGSWARM_PULL_TIMEOUT:-60}" docker pull -q "$IMAGE" >/dev/null 2>&1; then
  log "pulled $IMAGE"; exit 0
fi
log "pull failed; building $IMAGE with debootstrap"

# The first non-security Debian archive URI in apt's sources.
find_mirror() {
  if [ -n "${PGSWARM_DEBIAN_MIRROR:-}" ]; then echo "$PGSWARM_DEBIAN_MIRROR"; return; fi
  local f line
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    while IFS= read -r line; do
      case "$line" in
        URIs:*) for u in ${line#URIs:}; do
                  case "$u" in *security*|*snapshot*) ;; http*://*) echo "$u"; return;; esac
                done ;;
      esac
    done <"$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    # deb [options] URI suite components
    awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^https?:\/\//) { print $i; exit } }' "$f" \
      | grep -v -e security -e snapshot | head -n1 | grep . && return
  done
  return 1
}

MIRROR="$(find_mirror)" || { log "no Debian mirror found in apt sources; set PGSWARM_DEBIAN_MIRROR"; exit 1; }
log "mirror: $MIRROR (from apt sources)"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
fi

DIR="$(mktemp -d /tmp/pgswarm-rootfs.XXXXXX)"
trap 'as_root rm -rf "$DIR"' EXIT
log "debootstrap --variant=minbase $SUITE (about a minute)"
as_root debootstrap --variant=minbase "$SUITE" "$DIR" "$MIRROR" >"$DIR.log" 2>&1 || {
  log "debootstrap failed; last lines:"; tail -n 30 "$DIR.log" >&2; exit 1; }
rm -f "$DIR.log"
# Trim like the official slim images: no apt lists, no docs.
as_root rm -rf "$DIR"/var/lib/apt/lists/* "$DIR"/var/cache/apt/*.bin "$DIR"/usr/share/doc/* "$DIR"/usr/share/man/*
# The image's apt must use the same mirror the machine uses.
printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "$MIRROR" "$SUITE" "$SUITE" | as_root tee "$DIR/etc/apt/sources.list.d/debian.sources" >/dev/null
as_root rm -f "$DIR/etc/apt/sources.list"
log "docker import -> $IMAGE"
as_root tar -C "$DIR" -c . | docker import -c 'CMD ["bash"]' - "$IMAGE" >/dev/null
log "built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
