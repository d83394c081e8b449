#!/usr/bin/env bash
# Issue 26, eighth sitting: the writer bench (platform/benches/writer.rs) with a grant's tokens in
# one row (PAIRED=1) and in two (PAIRED=0, as the server wrote them before), the same binary,
# ROUNDS rounds alternating, the order turned each round. Run from the repository root with
#   WRITER=<the bench's executable: cargo bench -p grantor --bench writer --no-run prints it>
set -u
WRITER=${WRITER:?the writer bench executable}
DIR=${DIR:-bench/results/issue-26-paired}
ROUNDS=${ROUNDS:-3}
export LIVE=${LIVE:-300000} SUBMITTERS=${SUBMITTERS:-16} SECONDS_=${SECONDS_:-10}
run() {
  echo "== PAIRED=$1 round $2 $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  PAIRED=$1 SECONDS=$SECONDS_ DIR=/work/tmp-writer "$WRITER" 2>&1
}
mkdir -p /work/tmp-writer
for i in $(seq 1 "$ROUNDS"); do
  if [ $((i % 2)) = 1 ]; then run 0 "$i"; run 1 "$i"; else run 1 "$i"; run 0 "$i"; fi
done
