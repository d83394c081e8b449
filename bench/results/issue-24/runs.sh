#!/usr/bin/env bash
# Issue 24's sitting: the token exchange (delegation, for an access token and for a JWT grant)
# next to jwt-bearer, alternated so drift hits both, on SQLite (3 rounds) and PostgreSQL (1 round),
# every run with its floors. One report per run in this directory; the load average before each
# run in load.txt. Run from the repository root after
#   cargo build --release -p grantor-bench -p grantor -p grant-jwt-bearer -p grant-token-exchange
set -u
B=${B:-target/release/grantor-bench}
DIR=${DIR:-bench/results/issue-24}
ROUNDS=${ROUNDS:-3}
: > "$DIR/load.txt"
run() {
  local name=$1; shift
  echo "$name $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$DIR/load.txt"
  timeout 300 "$B" "$@" --json > "$DIR/$name.txt" 2>&1
}
for i in $(seq 1 "$ROUNDS"); do
  if [ $((i % 2)) -eq 1 ]; then
    run "token-exchange-$i" --mode token-exchange
    run "jwt-bearer-$i" --mode jwt-bearer
  else
    run "jwt-bearer-$i" --mode jwt-bearer
    run "token-exchange-$i" --mode token-exchange
  fi
  run "token-exchange-jwt-$i" --mode token-exchange --requested-token-type jwt
done
if [ -n "${POSTGRES_URL:-}" ]; then
  run token-exchange-pg --mode token-exchange --database "$POSTGRES_URL"
  run jwt-bearer-pg --mode jwt-bearer --database "$POSTGRES_URL"
  run token-exchange-jwt-pg --mode token-exchange --requested-token-type jwt --database "$POSTGRES_URL"
fi
echo "done $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$DIR/load.txt"
