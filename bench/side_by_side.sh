#!/usr/bin/env bash
# One sitting of the figures in BENCHMARKS.md: node-oidc-provider (the peer) and Grantor, driven
# by the same load generator with the same assertions' shape, RUNS times each, on this machine.
#
#   bash bench/side_by_side.sh [RUNS]            (default 3; set POSTGRES_URL to include PostgreSQL)
#
# Needs the peers set up once as ../shared/bench/README.md says (~/.cache/peers/node with
# oidc-provider and jose) and a release build:
#   cargo build --release -p grantor-bench -p grantor -p grant-jwt-bearer -p grant-token-exchange
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
bench=target/release/grantor-bench
peer_dir=${PEER_DIR:-$HOME/.cache/peers/node}
peer_script=../shared/bench/peers/oidc_provider_server.mjs
keys=$(mktemp -d)
trap '[ -n "${peer_pid:-}" ] && kill "$peer_pid" 2>/dev/null; rm -rf "$keys"' EXIT

summary() { grep -E '^(mode|backend|connections|access tokens|token pool|codes|id tokens|exchanges|!!|throughput|latency|responses|server cpu|load cpu|database cpu|writer|rs256|es256|eddsa|crypto floor|http floor|ratio)'; }
run() { echo "### $*"; "$bench" "$@" 2>/dev/null | summary; echo; }

echo "## machine"; nproc; uname -r; grep -m1 'model name' /proc/cpuinfo; date -u; echo

"$bench" --keys-out "$keys" >/dev/null
if [ -f "$peer_script" ] && [ -d "$peer_dir/node_modules/oidc-provider" ]; then
  cp "$peer_script" "$peer_dir/"
  (cd "$peer_dir" && IDP_JWKS="$keys/idp.jwks.json" ISS=https://idp.bench \
    AUD=http://127.0.0.1:3000/oauth2/token PORT=3000 CLIENT_ID=bench CLIENT_SECRET=bench-secret \
    exec node oidc_provider_server.mjs >"$keys/peer.log" 2>&1) &
  peer_pid=$!
  for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null && break
    sleep 0.2
  done
  echo "## node-oidc-provider, jwt-bearer"
  for _ in $(seq 1 "$runs"); do
    run --key "$keys" --target http://127.0.0.1:3000/oauth2/token --auth bench:bench-secret \
      --mode jwt-bearer --skip-floors
  done
  kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true; peer_pid=
else
  echo "## node-oidc-provider not set up ($peer_dir): skipped"
fi

echo "## grantor, sqlite, jwt-bearer (floors in each run)"
for _ in $(seq 1 "$runs"); do run --key "$keys" --mode jwt-bearer; done
echo "## grantor, sqlite, client-credentials"
for _ in $(seq 1 "$runs"); do run --mode client-credentials --skip-floors; done
echo "## grantor, sqlite, authorization-code (codes made through a sign-in; RS256 ID token per exchange)"
for _ in $(seq 1 "$runs"); do run --mode authorization-code; done
echo "## grantor, sqlite, token-exchange (delegation; an access token, then a JWT grant for another domain)"
for _ in $(seq 1 "$runs"); do run --mode token-exchange; done
run --mode token-exchange --requested-token-type jwt
echo "## grantor, sqlite, refresh-token"
for _ in $(seq 1 "$runs"); do run --mode refresh-token --skip-floors; done
echo "## grantor, sqlite, jwt-access-token (JWT access tokens; signing floor of the same key type)"
for alg in RS256 ES256 EdDSA; do run --mode jwt-access-token --signing-alg "$alg" --assertions 60000; done
echo "## grantor, sqlite, introspect"
for format in opaque jwt; do run --mode introspect --introspect-format "$format"; done
echo "## grantor, sqlite, jwt-bearer, 256 connections"
run --key "$keys" --mode jwt-bearer --connections 256 --skip-floors
echo "## grantor, sqlite, jwt-bearer, synchronous = normal (survives a crash, not a power loss)"
GRANTOR_DATABASE__SYNCHRONOUS=normal run --key "$keys" --mode jwt-bearer --skip-floors
if [ -n "${POSTGRES_URL:-}" ]; then
  echo "## grantor, postgresql, jwt-bearer"
  for _ in $(seq 1 "$runs"); do run --key "$keys" --mode jwt-bearer --skip-floors --database "$POSTGRES_URL"; done
  echo "## grantor, postgresql, client-credentials"
  run --mode client-credentials --skip-floors --database "$POSTGRES_URL"
  echo "## grantor, postgresql, authorization-code"
  run --mode authorization-code --database "$POSTGRES_URL"
  echo "## grantor, postgresql, token-exchange"
  run --mode token-exchange --database "$POSTGRES_URL"
fi
