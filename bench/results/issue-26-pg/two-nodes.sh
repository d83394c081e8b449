#!/usr/bin/env bash
# Two Grantor nodes on one PostgreSQL database, measured together (issue 26, item 3), and one
# node on the same database in the same sitting. Each node is a `grantor serve` of its own (its
# own port, the same database and key-encryption key); each harness attaches to one node with
# --url and provisions a tenant of its own through the CLI. The harness does not see a server
# it did not start, so this script reads the nodes' and PostgreSQL's CPU from /proc over the
# measured window (from the end of the warm-up, taken when a harness prints "load:", to the end
# of the window). Run from the repository root after
#   cargo build --release -p grantor-bench -p grantor -p grant-jwt-bearer
# with POSTGRES_URL naming an empty-or-bench database (e.g. .ci/run's grantor_bench).
set -u
A=${A:-target/release/grantor-bench}
G=${G:-target/release/grantor}
PLUGIN=${PLUGIN:-target/release/libgrant_jwt_bearer.so}
URL=${POSTGRES_URL:?a postgres:// URL}
DIR=${DIR:-bench/results/issue-26-pg}
ROUNDS=${ROUNDS:-3}
WARMUP=4
DURATION=15
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
"$A" --keys-out "$work/keys" >/dev/null
mkdir -p "$work/plugins"
cp "$PLUGIN" "$work/plugins/libgrant_jwt_bearer.so"
# The harness's own key for runs on a shared database (bench/src/server.rs), so that the
# database's keys from earlier runs open.
echo "Z3JhbnRvci1iZW5jaC1zaGFyZWQtZGF0YWJhc2Uta2s=" > "$work/kek"
chmod 600 "$work/kek"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
node() {
  local n=$1 port
  port=$(free_port)
  cat > "$work/node$n.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
public_base_url = "http://127.0.0.1:$port"
[database]
url = "$URL"
[plugins]
directory = "$work/plugins"
[[oauth.custom_grant_type]]
name = "urn:ietf:params:oauth:grant-type:jwt-bearer"
library = "libgrant_jwt_bearer.so"
[keys]
encryption_key_file = "$work/kek"
TOML
  "$G" --config "$work/node$n.toml" serve 2>"$work/node$n.log" &
  pids+=($!)
  echo "$port" > "$work/port$n"
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && return; sleep 0.2; done
  echo "node $n did not start:"; cat "$work/node$n.log"; exit 1
}
# utime + stime, in clock ticks, of the given pids (the nodes) or of every postgres process.
ticks() { for p in "$@"; do cut -d' ' -f14,15 "/proc/$p/stat"; done | awk '{s+=$1+$2} END {print s+0}'; }
pg_ticks() { ticks $(pgrep -u postgres postgres); }
# Each node's group commit so far (/health): batches, requests, busy microseconds.
commits() {
  for n in 1 2; do
    curl -sf "http://127.0.0.1:$(cat "$work/port$n")/health" \
      | python3 -c 'import json,sys; g=json.load(sys.stdin)["group_commit"]; print(g["batches"], g["requests"], g["busy_us"])'
  done
}
# One measured load: harness i on node i for each i in $2..., $1 connections each.
load() {
  local name=$1 conns=$2; shift 2
  local outs=() hs=()
  # Every load starts from empty token tables, so that the database's growth over the sitting
  # does not favour the earlier loads.
  psql -q "$URL" -c "TRUNCATE tokens, token_families, replay_keys, jwt_replay_cache" -c "VACUUM ANALYZE tokens, token_families, replay_keys, jwt_replay_cache"
  for n in "$@"; do
    local port; port=$(cat "$work/port$n")
    "$A" --grantor "$G" --url "http://127.0.0.1:$port" --config "$work/node$n.toml" \
      --key "$work/keys" --mode jwt-bearer --skip-floors --connections "$conns" \
      --warmup "$WARMUP" --duration "$DURATION" --assertions $((conns * 3500)) \
      > "$DIR/$name-node$n.txt" 2>&1 &
    hs+=($!); outs+=("$DIR/$name-node$n.txt")
  done
  for o in "${outs[@]}"; do until grep -q "^load:" "$o" 2>/dev/null; do sleep 0.1; done; echo "$name: $o load at $(date -u +%H:%M:%S.%N | cut -c1-12)" >> "$DIR/times.txt"; done
  sleep "$WARMUP"
  local n0 p0 n1 p1 t0 t1 c0 c1
  t0=$(date +%s.%N); n0=$(ticks "${pids[@]}"); p0=$(pg_ticks); c0=$(commits)
  sleep "$DURATION"
  t1=$(date +%s.%N); n1=$(ticks "${pids[@]}"); p1=$(pg_ticks); c1=$(commits)
  for h in "${hs[@]}"; do wait "$h"; done
  local total=0
  for o in "${outs[@]}"; do
    local r; r=$(awk '/^requests/ {gsub(",","",$2); print $2}' "$o"); total=$((total + r))
  done
  local hz; hz=$(getconf CLK_TCK)
  awk -v name="$name" -v total="$total" -v n="$((n1 - n0))" -v p="$((p1 - p0))" -v hz="$hz" \
    -v secs="$(echo "$t1 - $t0" | bc)" -v dur="$DURATION" 'BEGIN {
      printf "%s: %d requests in %d s = %.0f/s; nodes %.1f us cpu per request, postgres %.1f us (window %.1f s)\n",
        name, total, dur, total / dur, n / hz * 1e6 / total, p / hz * 1e6 / total, secs }' \
    | tee -a "$DIR/summary.txt"
  paste <(echo "$c0") <(echo "$c1") | awk -v name="$name" -v secs="$(echo "$t1 - $t0" | bc)" '
    $5 > $2 { printf "%s: node %d group commit: batches of %.1f, %.0f%% busy\n", name, NR,
      ($5 - $2) / ($4 - $1), ($6 - $3) / 1e4 / secs }' | tee -a "$DIR/summary.txt"
}
: > "$DIR/summary.txt"; : > "$DIR/times.txt"
node 1; node 2
for i in $(seq 1 "$ROUNDS"); do
  load "one-$i" 32 1
  load "two-$i" 16 1 2
done
