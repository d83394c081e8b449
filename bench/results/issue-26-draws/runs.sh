#!/usr/bin/env bash
# Issue 26, seventh sitting: one random draw per request's tokens, SHA-256 without a lookup by
# name, request ids without a draw. jwt-bearer on the build before (BEFORE, a directory with its
# grantor and plugin) and after (AFTER, the same), with node-oidc-provider beside them, three
# rounds, the order turned each round so drift hits all three; then 256 connections (300,000
# assertions, so the load does not run out). One report per run in this directory, the load
# average before each in load.txt. Run from the
# repository root after
#   cargo build --release -p grantor-bench -p grantor -p grant-jwt-bearer
set -u
A=${A:-target/release/grantor-bench}
BEFORE=${BEFORE:?the directory of the build before}
AFTER=${AFTER:?the directory of the build after}
DIR=${DIR:-bench/results/issue-26-draws}
ROUNDS=${ROUNDS:-3}
peer_dir=${PEER_DIR:-$HOME/.cache/peers/node}
keys=$(mktemp -d)
trap '[ -n "${peer_pid:-}" ] && kill "$peer_pid" 2>/dev/null; rm -rf "$keys"' EXIT
: > "$DIR/load.txt"
log() { echo "$1 $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$DIR/load.txt"; }
run() {
  local name=$1 bench=$2; shift 2
  log "$name"
  timeout 300 "$bench" "$@" > "$DIR/$name.txt" 2>&1
}
"$A" --keys-out "$keys" >/dev/null
cp ../shared/bench/peers/oidc_provider_server.mjs "$peer_dir/"
peer() {
  (cd "$peer_dir" && IDP_JWKS="$keys/idp.jwks.json" ISS=https://idp.bench \
    AUD=http://127.0.0.1:3000/oauth2/token PORT=3000 CLIENT_ID=bench CLIENT_SECRET=bench-secret \
    exec node oidc_provider_server.mjs >"$keys/peer.log" 2>&1) &
  peer_pid=$!
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null && break; sleep 0.2; done
  run "node-$1" "$A" --key "$keys" --target http://127.0.0.1:3000/oauth2/token \
    --auth bench:bench-secret --mode jwt-bearer --skip-floors
  kill "$peer_pid"; wait "$peer_pid" 2>/dev/null; peer_pid=
}
# The same harness drives both builds: the same load generator and figures.
before() {
  run "before-$1" "$A" --grantor "$BEFORE/grantor" --plugin "$BEFORE/libgrant_jwt_bearer.so" \
    --key "$keys" --mode jwt-bearer --assertions "${ASSERTIONS:-150000}" "${@:2}"
}
after() {
  run "after-$1" "$A" --grantor "$AFTER/grantor" --plugin "$AFTER/libgrant_jwt_bearer.so" \
    --key "$keys" --mode jwt-bearer --assertions "${ASSERTIONS:-150000}" "${@:2}"
}
for i in $(seq 1 "$ROUNDS"); do
  case $((i % 3)) in
    1) peer "$i"; before "$i"; after "$i" ;;
    2) after "$i"; peer "$i"; before "$i" ;;
    0) before "$i"; after "$i"; peer "$i" ;;
  esac
done
ASSERTIONS=300000 before 256 --connections 256 --skip-floors
ASSERTIONS=300000 after 256 --connections 256 --skip-floors
log done
