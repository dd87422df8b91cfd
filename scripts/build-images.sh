#!/usr/bin/env bash
# Build the pgnode and pgproxy images from this checkout.
#   1. npm run build (TypeScript -> dist/)
#   2. a production-only node_modules in .build/prod (npm ci --omit=dev,
#      from npm's cache when it can) — the images get no dev dependencies
#   3. docker build of both images (base image from scripts/base-image.sh)
# Tags: $PGSWARM_IMAGE_PREFIX (default pgswarm) + /pgnode and /pgproxy,
# version $PGSWARM_IMAGE_TAG (default: package.json's version) and latest.
# Set PGSWARM_SKIP_TS_BUILD=1 when dist/ is already fresh.
set -euo pipefail
log() { printf '[build-images] %s\n' "$*" >&2; }
cd "$(dirname "$0")/.."
PREFIX="${PGSWARM_IMAGE_PREFIX:-pgswarm}"
TAG="${PGSWARM_IMAGE_TAG:-$(node -p 'require("./package.json").version')}"

if [ "${PGSWARM_SKIP_TS_BUILD:-}" != "1" ]; then
  log "npm run build"
  npm run build --silent
fi

# Production dependencies only; re-made only when the lock file changes.
PROD=.build/prod
if [ ! -f "$PROD/package-lock.json" ] || ! cmp -s package-lock.json "$PROD/package-lock.json" \
   || [ ! -d "$PROD/node_modules" ]; then
  log "production node_modules (npm ci --omit=dev)"
  rm -rf "$PROD"; mkdir -p "$PROD"
  cp package.json package-lock.json "$PROD/"
  (cd "$PROD" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null)
  # Packages' own tests and fixtures are not needed at run time, and some ship
  # private keys (ssh2's test fixtures): an image must hold no private key at all.
  find "$PROD/node_modules" -type d \( -name test -o -name tests -o -name __tests__ -o -name fixtures -o -name example -o -name examples \) -prune -exec rm -rf {} +
  find "$PROD/node_modules" -type f \( -name '*.md' -o -name '*.ts' -o -name '*.map' \) ! -name '*.d.ts' -delete
  # A PEM header followed by a base64 body line is a key (a header alone is a string constant in code).
  leaked=$(grep -r -a -l -E -e '-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----' "$PROD/node_modules" 2>/dev/null | while read -r f; do
    grep -a -A1 -E -e '-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----' "$f" | grep -a -q -E '^[A-Za-z0-9+/=]{60,}$' && echo "$f"; done || true)
  if [ -n "$leaked" ]; then log "a private key is still in the production node_modules:"; echo "$leaked" >&2; exit 1; fi
else
  log "production node_modules are up to date"
fi

for img in pgnode pgproxy; do
  log "docker build $PREFIX/$img:$TAG"
  start=$(date +%s)
  docker build -q -f "images/$img/Dockerfile" -t "$PREFIX/$img:$TAG" -t "$PREFIX/$img:latest" . >/dev/null
  log "built $PREFIX/$img:$TAG in $(( $(date +%s) - start ))s ($(docker image inspect -f '{{.Size}}' "$PREFIX/$img:$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
done
