#!/usr/bin/env bash
# PostgreSQL writers (database.postgres_writers) against jwt-bearer throughput: the build in BIN
# (a directory with its grantor and plugin) on the database DB, each count in WRITERS once per
# round, ROUNDS rounds, 32 connections. Reports in DIR as writers-<n>-<round>.txt.
set -u
A=${A:-target/release/grantor-bench}
DIR=${DIR:-bench/results/issue-26-rows}
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
"$A" --keys-out "$keys" >/dev/null
for i in $(seq 1 "${ROUNDS:-3}"); do
  for w in ${WRITERS:-1 2 4}; do
    echo "writers-$w-$i $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$DIR/writers-load.txt"
    GRANTOR_DATABASE__POSTGRES_WRITERS=$w timeout 300 "$A" --grantor "$BIN/grantor" \
      --plugin "$BIN/libgrant_jwt_bearer.so" --key "$keys" --mode jwt-bearer --assertions 130000 \
      --skip-floors --database "$DB" > "$DIR/writers-$w-$i.txt" 2>&1
  done
done
