#!/usr/bin/env bash
# The writer alone (platform/benches/writer.rs), the build before this change (BEFORE, its
# `cargo bench -p grantor --bench writer --no-run` executable) and after (AFTER), alternating,
# 16 then 32 submitters. Run from the repository root.
set -u
DIR=${DIR:-bench/results/issue-26-wal}
for n in 16 32; do
  for build in before after; do
    bin=$BEFORE; [ "$build" = after ] && bin=$AFTER
    echo "### $build, $n submitters ($(date -u +%T), load $(cut -d' ' -f1-3 /proc/loadavg))"
    SUBMITTERS=$n "$bin" 2>&1 | grep -v '^$'
  done
done >> "$DIR/writer.txt"
echo done >> "$DIR/writer.txt"
