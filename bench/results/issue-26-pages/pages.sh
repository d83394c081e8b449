#!/usr/bin/env bash
# pages.txt: today's layout at batches of 13 and 16, then each layout tried at 13 (and the upper
# bound without a replay-key index at 16). $1: a database the writer bench filled (walstat.py).
set -eu
cd "$(dirname "$0")"
for b in 13 16; do echo "== today's layout, batches of $b"; python3 walstat.py "$1" $b 300; done
for v in replay-keys-without-rowid tokens-without-rowid families-without-rowid \
  client-family-index no-replay-index; do
  echo "== $v.sql, batches of 13"; python3 walstat.py "$1" 13 300 $v.sql
done
echo "== no-replay-index.sql, batches of 16"; python3 walstat.py "$1" 16 300 no-replay-index.sql
