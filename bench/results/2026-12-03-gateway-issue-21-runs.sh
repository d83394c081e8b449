#!/usr/bin/env bash
# Alternating runs of the gateway before (a141ec9) and after (issue 21), one sitting.
set -u
# BEFORE and AFTER: the grantor-bench of each release build (each next to its own grantor).
BEFORE=${BEFORE:?path of the earlier build's grantor-bench}
AFTER=${AFTER:?path of the later build's grantor-bench}
OUT=${OUT:-raw.txt}
: > $OUT
cd /tmp
for round in 1 2 3 4 5 6; do
  for claims in none jwt; do
    if [ $((round % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
    for which in $order; do
      bin=$BEFORE; [ $which = after ] && bin=$AFTER
      echo "=== round $round claims $claims $which $(date -u +%H:%M:%S)" >> $OUT
      timeout 180 $bin --mode gateway --backend-claims $claims --duration 8 --warmup 2 >> $OUT 2>&1
    done
  done
done
echo DONE >> $OUT
