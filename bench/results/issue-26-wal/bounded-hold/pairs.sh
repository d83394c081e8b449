#!/usr/bin/env bash
# The checkpointer's hold bounded (a round holds the writer only after a checkpoint beside it took
# <= 5 ms) against the version without the bound (e41cf0b): alternating pairs, 32 connections,
# jwt-bearer. BOUNDED and UNBOUNDED: directories with grantor and the plugin. Run from the
# repository root.
set -u
A=${A:-target/release/grantor-bench}
DIR=${DIR:-bench/results/issue-26-wal/bounded-hold}
keys=$(mktemp -d); trap 'rm -rf "$keys"' EXIT
"$A" --keys-out "$keys" >/dev/null
for i in 1 2; do
  for build in unbounded bounded; do
    bin=$UNBOUNDED; [ "$build" = bounded ] && bin=$BOUNDED
    echo "$build-$i $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$DIR/load.txt"
    timeout 300 "$A" --grantor "$bin/grantor" --plugin "$bin/libgrant_jwt_bearer.so" --key "$keys" \
      --mode jwt-bearer --skip-floors --assertions 150000 > "$DIR/$build-$i.txt" 2>&1
  done
done
