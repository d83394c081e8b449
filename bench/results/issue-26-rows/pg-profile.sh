#!/usr/bin/env bash
# perf record -a -g (every process: the server, PostgreSQL, the load) for 6 s of a 32-connection
# jwt-bearer run on PostgreSQL, 4 s into its measured window. Run from the repository root.
set -u
BIN=${BIN:?the directory of the build}
DB=${DB:?the database URL}
OUT=${OUT:?where the report and perf.data go, without extension}
A=${A:-target/release/grantor-bench}
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
"$A" --keys-out "$keys" >/dev/null
"$A" --grantor "$BIN/grantor" --plugin "$BIN/libgrant_jwt_bearer.so" --key "$keys" \
  --mode jwt-bearer --assertions 130000 --skip-floors --database "$DB" > "$OUT.txt" 2>&1 &
pid=$!
while ! grep -q '^load:' "$OUT.txt"; do sleep 0.5; done
sleep 4
perf record -a -g -F 999 -o "$OUT.data" -- sleep 6 2>/dev/null >/dev/null
wait $pid

