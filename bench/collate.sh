#!/bin/sh
# Collation throughput: the mlearn Si training set (214 structures) and a
# 10 000-structure extxyz file built from it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/bin"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
si="$MLIP_MLEARN_DIR/Si/training.json"
now() { date +%s.%N; }
rate() { awk -v n="$1" -v t="$2" -v b="$3" 'BEGIN { printf "%d structures in %.3f s: %.0f structures/s, %.1f MB/s\n", n, t, n / t, b / t / 1e6 }'; }

echo "## collate"
t0=$(now); "$bin/mlip-collate" -q -c 5.5 -o "$tmp/si.mlb" "$si"; t1=$(now)
echo "mlearn Si training.json (cutoff 5.5):   $(rate 214 "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$(wc -c < "$si")")"

"$bin/mlip-collate" --dump --dump-format extxyz "$tmp/si.mlb" > "$tmp/one.xyz"
: > "$tmp/big.xyz"
i=0; while [ $i -lt 47 ]; do cat "$tmp/one.xyz" >> "$tmp/big.xyz"; i=$((i + 1)); done
n=$((214 * 47))
t0=$(now); "$bin/mlip-collate" -q -c 5.5 -o "$tmp/big.mlb" "$tmp/big.xyz"; t1=$(now)
echo "extxyz, $n structures (cutoff 5.5):  $(rate $n "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$(wc -c < "$tmp/big.xyz")")"
t0=$(now); "$bin/mlip-collate" --dump "$tmp/big.mlb" > /dev/null; t1=$(now)
echo "--dump of that stream:                 $(rate $n "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$(wc -c < "$tmp/big.mlb")")"
