#!/usr/bin/env bash
# Counts secrets in a Docker image: every layer unpacked, then (1) each fixed
# string of NEEDLE_FILE (the cluster's passwords, tokens, keys) and (2) PEM
# private keys with a real body (ELF binaries skipped: vendor self-test
# constants). Prints the count on stdout, what was found on stderr.
# usage: scripts/probe-image-secrets.sh IMAGE NEEDLE_FILE
set -e; d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; docker save "$1" | tar -x -C "$d"
n=0
for l in $(find "$d" -name layer.tar); do
  mkdir -p "$l.d"; tar -x -C "$l.d" -f "$l" 2>/dev/null || true
  # the operator's secrets, as fixed strings
  for f in $(grep -r -a -l -F -f "$2" "$l.d" 2>/dev/null); do echo "secret in ${f#$l.d}" >&2; n=$((n+1)); done
  # a PEM private key with a real body (a header alone is a string constant in libraries)
  for f in $(grep -r -a -l -E -e '-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----' "$l.d" 2>/dev/null); do
    [ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] && continue  # binaries: vendor self-test constants
    if grep -a -A1 -E -e '-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----' "$f" | grep -a -q -E '^[A-Za-z0-9+/=]{60,}$'; then echo "private key in ${f#$l.d}" >&2; n=$((n+1)); fi
  done
done
echo "$n"
