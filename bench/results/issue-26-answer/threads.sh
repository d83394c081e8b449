#!/usr/bin/env bash
# Issue 26, ninth sitting: PAIRS alternating pairs of the build before (BEFORE) and after (AFTER),
# jwt-bearer at 32 connections; during 8 s of each measured window, the server's context switches
# (`perf stat -e context-switches`, or the events in EVENTS) and its CPU by thread name (utime + stime from /proc, as a
# share of the server's). One report per run in DIR: NAME.txt (the harness), NAME.txt.stat,
# NAME.txt.threads. DATABASE (a PostgreSQL URL) runs on it instead of a fresh SQLite file. Run from
# the repository root after
#   cargo build --release -p grantor-bench -p grantor -p grant-jwt-bearer
set -u
A=${A:-target/release/grantor-bench}
BEFORE=${BEFORE:?the directory of the build before}
AFTER=${AFTER:?the directory of the build after}
DIR=${DIR:-bench/results/issue-26-answer}
PAIRS=${PAIRS:-3}
EVENTS=${EVENTS:-context-switches}
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
"$A" --keys-out "$keys" >/dev/null
snap() { for t in /proc/$1/task/*; do echo "$(cat "$t/comm") $(awk '{print $14+$15}' "$t/stat")"; done; }
run() {
  local out="$DIR/$1.txt" build=$2 pid=""
  "$A" --grantor "$build/grantor" --plugin "$build/libgrant_jwt_bearer.so" --key "$keys" \
    --mode jwt-bearer --skip-floors --duration 12 --assertions 250000 \
    ${DATABASE:+--database "$DATABASE"} > "$out" 2>&1 &
  local load=$!
  until grep -q "^load:" "$out"; do sleep 0.5; done
  sleep 3
  for p in $(pgrep -f "$build/grantor"); do
    [ "$(readlink "/proc/$p/exe")" = "$build/grantor" ] && pid=$p
  done
  snap "$pid" > "$out.t0"
  perf stat -e "$EVENTS" -p "$pid" -- sleep 8 2> "$out.stat"
  snap "$pid" > "$out.t1"
  wait "$load"
  python3 - "$out" <<'PY'
import collections, sys
out = sys.argv[1]
def read(path):
    ticks = collections.Counter()
    for line in open(path):
        name, value = line.rsplit(' ', 1)
        ticks[name] += int(value)
    return ticks
before, after = read(out + '.t0'), read(out + '.t1')
total = sum(after.values()) - sum(before.values())
with open(out + '.threads', 'w') as f:
    for name in sorted(after):
        share = (after[name] - before.get(name, 0)) / total * 100
        if share >= 0.05:
            f.write(f"{name} {share:.1f}%\n")
PY
  rm -f "$out.t0" "$out.t1"
}
for i in $(seq 1 "$PAIRS"); do
  if [ $((i % 2)) = 1 ]; then
    run "threads-$i-before" "$BEFORE"; run "threads-$i-after" "$AFTER"
  else
    run "threads-$i-after" "$AFTER"; run "threads-$i-before" "$BEFORE"
  fi
done
