#!/usr/bin/env bash
# The identity provider's answer kept encoded and one random draw per token (AFTER) against the
# build before them (BEFORE): alternating pairs at 32 connections, the same harness and keys.
# Run from the repository root after
#   cargo build --release -p grantor-bench -p grantor -p grant-jwt-bearer
set -u
A=${A:-target/release/grantor-bench}
BEFORE=${BEFORE:?the directory of the build before}
AFTER=${AFTER:?the directory of the build after}
DIR=${DIR:-bench/results/issue-26-cuts}
PAIRS=${PAIRS:-2}
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
"$A" --keys-out "$keys" >/dev/null
run() {
  echo "$1 $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$DIR/load.txt"
  timeout 300 "$A" --grantor "$2/grantor" --plugin "$2/libgrant_jwt_bearer.so" --key "$keys" \
    --mode jwt-bearer --skip-floors --assertions 120000 > "$DIR/$1.txt" 2>&1
}
: > "$DIR/load.txt"
for i in $(seq 1 "$PAIRS"); do
  if [ $((i % 2)) -eq 1 ]; then run "before-$i" "$BEFORE"; run "after-$i" "$AFTER"
  else run "after-$i" "$AFTER"; run "before-$i" "$BEFORE"; fi
done
grep -H -E "^(throughput|latency|server cpu|writer)" "$DIR"/before-*.txt "$DIR"/after-*.txt
