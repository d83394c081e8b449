#!/usr/bin/env bash
# Issue 26, fifth sitting: introspection and refresh_token before and after SQLite's plan
# stability (QPSG) and the introspection endpoint on the token work pool, alternating in one
# sitting; then jwt-bearer at 256 connections with the harness's per-address room.
# BEFORE and AFTER are grantor binaries; the harness and plugin are this checkout's release build.
# Run: BEFORE=<2d3813a build> AFTER=<this build> bash bench/results/issue-26-reads/runs.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=bench/results/issue-26-reads
bench=target/release/grantor-bench
key=$(mktemp -d)
$bench --keys-out "$key" > /dev/null
for round in 1 2 3; do
  for mode in introspect refresh-token; do
    for which in before after; do
      bin=$BEFORE; [ $which = after ] && bin=$AFTER
      $bench --grantor "$bin" --key "$key" --mode $mode --skip-floors \
        > $out/$mode-$which-$round.txt 2>&1
      echo "$mode $which $round: $(grep -E '^throughput' $out/$mode-$which-$round.txt)"
    done
  done
done
for which in before after; do
  bin=$BEFORE; [ $which = after ] && bin=$AFTER
  $bench --grantor "$bin" --key "$key" --mode jwt-bearer --skip-floors --assertions 200000 \
    --connections 256 > $out/jwt-bearer-256-$which.txt 2>&1
  echo "jwt-bearer 256 $which: $(grep -E '^throughput' $out/jwt-bearer-256-$which.txt)"
done
