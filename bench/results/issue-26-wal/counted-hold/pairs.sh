#!/usr/bin/env bash
# The writer held once a checkpoint beside it copied <= 256 frames (counted) against once one
# took <= 5 ms (timed, 3aed2ec): alternating pairs, 32 connections, jwt-bearer. TIMED and
# COUNTED: directories with grantor and the plugin. Run from the repository root.
set -u
A=${A:-target/release/grantor-bench}
DIR=${DIR:-bench/results/issue-26-wal/counted-hold}
keys=$(mktemp -d); trap 'rm -rf "$keys"' EXIT
"$A" --keys-out "$keys" >/dev/null
for i in 1 2; do
  for build in timed counted; do
    bin=$TIMED; [ "$build" = counted ] && bin=$COUNTED
    echo "$build-$i $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$DIR/load.txt"
    timeout 300 "$A" --grantor "$bin/grantor" --plugin "$bin/libgrant_jwt_bearer.so" --key "$keys" \
      --mode jwt-bearer --skip-floors --assertions 150000 > "$DIR/$build-$i.txt" 2>&1
  done
done
