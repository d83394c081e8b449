#!/usr/bin/env bash
# PostgreSQL's min_wal_size after an idle spell: for each setting (the default 80MB, then 1GB), a
# load run, IDLE seconds without load (longer than checkpoint_timeout, so a timed checkpoint
# recycles or removes log segments by the setting), then the measured run; the log directory's
# file count before and after each. Needs `su postgres`; the setting is reset at the end. BIN is a
# build's directory, DB the database URL. Run from the repository root.
set -u
A=${A:-target/release/grantor-bench}
OUT=bench/results/issue-26-rows/min-wal
keys=$(mktemp -d)
trap 'rm -rf "$keys"; su postgres -c "psql -qc \"ALTER SYSTEM RESET min_wal_size\" -c \"SELECT pg_reload_conf()\"" >/dev/null' EXIT
"$A" --keys-out "$keys" >/dev/null
segments() { ls /var/lib/postgresql/15/main/pg_wal | grep -c '^0'; }
load() {
  timeout 300 "$A" --grantor "$BIN/grantor" --plugin "$BIN/libgrant_jwt_bearer.so" --key "$keys" \
    --mode jwt-bearer --assertions 130000 --skip-floors --database "$DB" > "$OUT/$1.txt" 2>&1
}
for size in ${SIZES:-default 1GB}; do
  if [ "$size" = default ]; then set_sql="ALTER SYSTEM RESET min_wal_size"; else set_sql="ALTER SYSTEM SET min_wal_size = '$size'"; fi
  su postgres -c "psql -qc \"$set_sql\" -c \"SELECT pg_reload_conf()\"" >/dev/null
  echo "warm-$size $(date -u +%H:%M:%S) segments $(segments)" >> "$OUT/idle-load.txt"
  load "warm-$size"
  echo "idle-$size $(date -u +%H:%M:%S) segments $(segments)" >> "$OUT/idle-load.txt"
  sleep "${IDLE:-330}"
  echo "after-idle-$size $(date -u +%H:%M:%S) segments $(segments)" >> "$OUT/idle-load.txt"
  load "after-idle-$size"
  echo "end-$size $(date -u +%H:%M:%S) segments $(segments)" >> "$OUT/idle-load.txt"
done
