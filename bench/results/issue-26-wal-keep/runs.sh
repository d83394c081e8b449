#!/usr/bin/env bash
# The writer alone (`cargo bench -p grantor --bench writer`), built with the write-ahead log cut
# back to 64 MiB (BEFORE) and to 256 MiB (AFTER) when it starts again; three rounds alternating,
# 300,000 live grants, 16 submitters, 8 s each. Each run also samples the log's size every 0.5 s.
set -u
out=$(dirname "$0")
for round in 1 2 3; do
  for v in before after; do
    bin=$([ $v = before ] && echo "$BEFORE" || echo "$AFTER")
    dir=$(mktemp -d /tmp/wal-keep.XXXX)
    LIVE=300000 SECONDS=8 DIR=$dir "$bin" > "$out/writer-$v-$round.txt" 2>&1 &
    pid=$!
    sizes=""
    while kill -0 $pid 2>/dev/null; do
      s=$(stat -c %s "$dir"/.tmp*/writer.db-wal 2>/dev/null || echo 0)
      sizes="$sizes $((s / 1048576))"
      sleep 0.5
    done
    echo "wal MiB every 0.5 s:$sizes" >> "$out/writer-$v-$round.txt"
    rm -rf "$dir"
  done
done
grep -h "^writer" "$out"/writer-*.txt
