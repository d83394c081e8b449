#!/usr/bin/env bash
# Issue 26, ninth sitting: the writer bench (platform/benches/writer.rs) built before the log's VFS
# (BEFORE_WRITER, e.g. 2a8e35e's: the same write path as 0552f41) and after it (AFTER_WRITER),
# ROUNDS rounds alternating, the order turned each round, SUBMITTERS submitters (32: batches of
# about 20). Run from the repository root with each executable from
#   cargo bench -p grantor --bench writer --no-run
set -u
BEFORE_WRITER=${BEFORE_WRITER:?the writer bench built before}
AFTER_WRITER=${AFTER_WRITER:?the writer bench built after}
ROUNDS=${ROUNDS:-3}
export LIVE=${LIVE:-300000} SUBMITTERS=${SUBMITTERS:-32} PAIRED=1
run() {
  echo "== $1 round $2 $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf /work/tmp-writer && mkdir -p /work/tmp-writer
  SECONDS=10 DIR=/work/tmp-writer "$3" 2>&1
}
for i in $(seq 1 "$ROUNDS"); do
  if [ $((i % 2)) = 1 ]; then
    run before "$i" "$BEFORE_WRITER"; run after "$i" "$AFTER_WRITER"
  else
    run after "$i" "$AFTER_WRITER"; run before "$i" "$BEFORE_WRITER"
  fi
done
