#!/usr/bin/env bash
# The plugin's samples in a perf profile of the server, by function. The host loads the plugin
# from a private copy it deletes at once, so perf names none of its functions; this names them
# with addr2line on the same build's .so (perf gives file offsets; addr2line wants addresses: the
# text segment's shift is added). Usage: plugin-symbols.sh PERF_DATA PLUGIN_SO
set -eu
DATA=$1; SO=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
read -r off va < <(readelf -lW "$SO" | grep LOAD | grep "R E" | awk '{print $2, $3}' | head -1)
dso=$(perf report -i "$DATA" --no-children --sort dso --stdio -g none 2>/dev/null \
  | grep -o '\.libgrant_jwt_bearer[^ ]* (deleted)' | head -1)
perf report -i "$DATA" --no-children --comm grantor-work --dsos "$dso" --sort sym --stdio -g none \
  2>/dev/null | grep "%" | awk '{print $1, $3}' > "$tmp/addrs"
python3 - "$off" "$va" "$tmp/addrs" <<'PY' > "$tmp/shifted"
import sys
off = int(sys.argv[1], 16); va = int(sys.argv[2], 16)
for line in open(sys.argv[3]):
    _, addr = line.split()
    print(hex(int(addr, 16) - off + va))
PY
addr2line -f -C -e "$SO" < "$tmp/shifted" | paste - - | awk -F'\t' '{print $1}' > "$tmp/fns"
paste -d' ' "$tmp/addrs" "$tmp/fns" \
  | awk '{p=$1; sub("%","",p); $1=""; $2=""; s[$0]+=p} END {for (k in s) printf "%6.2f %s\n", s[k], k}' \
  | sort -rn
