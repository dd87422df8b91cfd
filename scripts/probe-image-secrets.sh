#!/usr/bin/env bash
# Counts secrets in a Docker image: `docker save` unpacked, then every layer the
# archive's manifests list (legacy <id>/layer.tar or OCI blobs/sha256/<digest>,
# compressed or not) and every image config scanned by
# dist/scripts/scan-image-secrets.js: (1) each fixed string of NEEDLE_FILE (the
# cluster's passwords, tokens, keys), (2) PEM/OpenSSH private keys with a real
# body (ELF binaries skipped: vendor self-test constants), (3) non-empty files
# named like private keys, (4) in the config: fixed strings, private key
# headers, secret-looking NAME=value in Env and history.
# Prints the count on stdout; what was found and a summary (layers, files,
# findings) on stderr. Exits 2, with nothing on stdout, when the image could
# not be saved or read (zero layers, a missing or unreadable layer).
# usage: scripts/probe-image-secrets.sh IMAGE [NEEDLE_FILE]   (after npm run build)
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 IMAGE [NEEDLE_FILE]" >&2; exit 2; }
js="$(cd "$(dirname "$0")/.." && pwd)/dist/scripts/scan-image-secrets.js"
[ -f "$js" ] || { echo "probe-image-secrets: FAILED: $js missing (npm run build)" >&2; exit 2; }
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
docker save "$1" | tar -x -C "$d" || { echo "probe-image-secrets: FAILED: docker save $1 | tar -x" >&2; exit 2; }
node "$js" --dir "$d" ${2:+--needles "$2"}
