#!/bin/sh
# make demo: the bundled mlearn Si subset through the mlip pipeline.
# Runs from the top of the tree after `make`; writes into demo-run/.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
bin="$top/bin"
out="${MLIP_DEMO_DIR:-$top/demo-run}"
data="$top/share/demo"
mkdir -p "$out"

echo "== mlip demo: silicon (mlearn, DFT PBE), output in $out"
echo "-- collate: neighbour lists at 5.5 Å, 90 % train / 10 % validation split"
"$bin/mlip-collate" -c 5.5 -d si --split 0.9 --seed 1 \
	-o "$out/train.mlb" -o "$out/val.mlb" "$data/si-train.json"
"$bin/mlip-collate" -c 5.5 -d si -o "$out/test.mlb" "$data/si-test.json"

echo "-- what the test stream holds (first structure, via --dump):"
"$bin/mlip-collate" --dump "$out/test.mlb" | head -n 1 | cut -c 1-300
echo "..."
