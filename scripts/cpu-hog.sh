#!/usr/bin/env bash
# Keeps one CPU core busy until it is killed: one process running a loop of
# shell builtins (nothing is spawned per iteration). SIGTERM or SIGINT ends it
# at once with exit 0; it also ends by itself once the process that started it
# is gone, so a test killed mid-way cannot leave it spinning. For example:
#   bash scripts/cpu-hog.sh & hog=$!; …; kill "$hog"
# (test/e2e/cold-start-busy.test.ts runs one during a cold deploy.)
trap 'exit 0' TERM INT
parent=$PPID
i=0
while :; do
  if (( ++i >= 500000 )); then
    i=0
    kill -0 "$parent" 2>/dev/null || exit 0
  fi
done
