#!/usr/bin/env bash
# Alternating runs before (55fd2f6) and after issue 22 (the token request as typed stages, one JOSE
# module), one sitting: the jwt-bearer exchange (the token path and the plugin's validator) and the
# gateway (its validator), the order of the pair flipped each round.
set -u
# BEFORE and AFTER: the grantor-bench of each release build (each next to its own grantor).
BEFORE=${BEFORE:?path of the earlier build's grantor-bench}
AFTER=${AFTER:?path of the later build's grantor-bench}
OUT=${OUT:-raw.txt}
ROUNDS=${ROUNDS:-4}
: > "$OUT"
cd /tmp
for round in $(seq 1 "$ROUNDS"); do
  for mode in ${MODES:-jwt-bearer gateway}; do
    if [ $((round % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
    for which in $order; do
      bin=$BEFORE; [ "$which" = after ] && bin=$AFTER
      extra=""; [ "$mode" = gateway ] && extra="--backend-claims none"
      echo "=== round $round mode $mode $which $(date -u +%H:%M:%S)" >> "$OUT"
      timeout 240 "$bin" --mode "$mode" $extra --duration 8 --warmup 2 >> "$OUT" 2>&1
    done
  done
done
echo DONE >> "$OUT"
