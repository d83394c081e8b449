#!/usr/bin/env bash
# PostgreSQL's min_wal_size against jwt-bearer on PostgreSQL: the default (80MB) and 1GB in
# turn, ROUNDS rounds; before each run a CHECKPOINT (which recycles or removes old log segments
# by the setting). Needs `su postgres` (ALTER SYSTEM); the setting is reset at the end. BIN is a
# build's directory, DB the database URL. Run from the repository root.
set -u
A=${A:-target/release/grantor-bench}
OUT=bench/results/issue-26-rows/min-wal
keys=$(mktemp -d)
trap 'rm -rf "$keys"; su postgres -c "psql -qc \"ALTER SYSTEM RESET min_wal_size\" -c \"SELECT pg_reload_conf()\"" >/dev/null' EXIT
"$A" --keys-out "$keys" >/dev/null
for i in $(seq 1 "${ROUNDS:-2}"); do
  for size in default 1GB; do
    if [ $size = default ]; then set_sql="ALTER SYSTEM RESET min_wal_size"; else set_sql="ALTER SYSTEM SET min_wal_size = '$size'"; fi
    su postgres -c "psql -qc \"$set_sql\" -c \"SELECT pg_reload_conf()\" -c CHECKPOINT" >/dev/null
    echo "$size-$i $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg) pg_wal $(du -sm /var/lib/postgresql/15/main/pg_wal | cut -f1) MB" >> "$OUT/load.txt"
    timeout 300 "$A" --grantor "$BIN/grantor" --plugin "$BIN/libgrant_jwt_bearer.so" --key "$keys" \
      --mode jwt-bearer --assertions 130000 --skip-floors --database "$DB" > "$OUT/$size-$i.txt" 2>&1
  done
done
