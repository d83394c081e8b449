#!/usr/bin/env bash
# 256 connections, alternating server.max_in_flight values.
cd /work/main
A=target/release/grantor-bench
keys=/tmp/adm/keys; mkdir -p $keys; [ -f $keys/idp.jwks.json ] || $A --keys-out $keys >/dev/null
for round in 1 2; do
  for m in ${VALUES:-1024 64 32}; do
    echo "$m-$round $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/adm/load.txt
    GRANTOR_SERVER__MAX_IN_FLIGHT=$m timeout 300 $A --key $keys --mode jwt-bearer --connections 256 \
      --skip-floors --assertions 110000 > /tmp/adm/m$m-$round.txt 2>&1
  done
done
