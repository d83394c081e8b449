#!/usr/bin/env bash
# The tenth sitting: runs.sh (node-oidc-provider and SQLite, the build before and after), then
# PostgreSQL alternating on one database (DB), then one PostgreSQL run of each build at 256
# connections. BEFORE and AFTER are directories with a build's grantor and plugin. Run from the
# repository root after `cargo build --release -p grantor-bench -p grantor -p grant-jwt-bearer`.
set -u
BEFORE=${BEFORE:?} AFTER=${AFTER:?} DB=${DB:?the PostgreSQL database URL}
OUT=bench/results/issue-26-rows/sitting
mkdir -p "$OUT"
BEFORE=$BEFORE AFTER=$AFTER DIR=$OUT bash bench/results/issue-26-draws/runs.sh
BEFORE=$BEFORE AFTER=$AFTER BEFORE_DB=$DB AFTER_DB=$DB DIR=$OUT ROUNDS=3 \
  bash bench/results/issue-26-wal-keep/postgres-runs.sh
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
target/release/grantor-bench --keys-out "$keys" >/dev/null
for v in before after; do
  bin=$([ $v = before ] && echo "$BEFORE" || echo "$AFTER")
  echo "postgres-$v-256 $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/postgres-load.txt"
  timeout 300 target/release/grantor-bench --grantor "$bin/grantor" \
    --plugin "$bin/libgrant_jwt_bearer.so" --key "$keys" --mode jwt-bearer --assertions 300000 \
    --skip-floors --connections 256 --database "$DB" > "$OUT/postgres-$v-256.txt" 2>&1
done
