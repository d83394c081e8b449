#!/usr/bin/env bash
# The families' tenant key dropped, on PostgreSQL: jwt-bearer on the build before it (BEFORE, a
# directory with its grantor and plugin) and after it (AFTER), each on a fresh database of its own
# (BEFORE_DB, AFTER_DB: both start empty and grow alike), alternating, ROUNDS rounds, 32
# connections. The harness's `database cpu` line is PostgreSQL's own CPU per request.
set -u
A=${A:-target/release/grantor-bench}
DIR=${DIR:-bench/results/issue-26-wal-keep}
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
"$A" --keys-out "$keys" >/dev/null
for i in $(seq 1 "${ROUNDS:-3}"); do
  for v in before after; do
    bin=$([ $v = before ] && echo "$BEFORE" || echo "$AFTER")
    db=$([ $v = before ] && echo "$BEFORE_DB" || echo "$AFTER_DB")
    echo "$v-$i $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$DIR/postgres-load.txt"
    timeout 300 "$A" --grantor "$bin/grantor" --plugin "$bin/libgrant_jwt_bearer.so" --key "$keys" \
      --mode jwt-bearer --assertions 130000 --skip-floors --database "$db" \
      > "$DIR/postgres-$v-$i.txt" 2>&1
  done
done
