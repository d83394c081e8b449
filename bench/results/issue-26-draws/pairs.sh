#!/usr/bin/env bash
# Issue 26, seventh sitting: PAIRS alternating pairs of the build before (BEFORE) and after
# (AFTER), jwt-bearer at 32 connections, the order turned each pair; one report per run in DIR.
# Later sittings reuse it with ARGS (the harness's load, default 150,000 assertions at its
# default 32 connections) and PREFIX (the reports' names, default pair).
# Run from the repository root after
#   cargo build --release -p grantor-bench -p grantor -p grant-jwt-bearer
set -u
A=${A:-target/release/grantor-bench}
BEFORE=${BEFORE:?the directory of the build before}
AFTER=${AFTER:?the directory of the build after}
DIR=${DIR:-bench/results/issue-26-draws}
PAIRS=${PAIRS:-4}
ARGS=${ARGS:---assertions 150000}
PREFIX=${PREFIX:-pair}
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
"$A" --keys-out "$keys" >/dev/null
run() {
  local name=$1 build=$2
  echo "$name $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$DIR/$PREFIX-load.txt"
  timeout 300 "$A" --grantor "$build/grantor" --plugin "$build/libgrant_jwt_bearer.so" \
    --key "$keys" --mode jwt-bearer --skip-floors $ARGS > "$DIR/$name.txt" 2>&1
}
: > "$DIR/$PREFIX-load.txt"
for i in $(seq 1 "$PAIRS"); do
  if [ $((i % 2)) = 1 ]; then
    run "$PREFIX-$i-before" "$BEFORE"; run "$PREFIX-$i-after" "$AFTER"
  else
    run "$PREFIX-$i-after" "$AFTER"; run "$PREFIX-$i-before" "$BEFORE"
  fi
done
