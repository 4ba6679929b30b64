#!/bin/sh
# Whole-process inference: mlip-eval on an 8 000-atom Si diamond supercell
# (extxyz, collated on the fly) with the default descriptors and 24-24 tanh,
# one thread and two; and peak memory of training on the whole Si set.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/bin"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
echo "## whole-process inference and training memory"
"$bin/mlip-collate" -q -c 5.5 -d si -b 4 -o "$tmp/train.mlb" "$MLIP_MLEARN_DIR/Si/training.json"
cat > "$tmp/cfg.yaml" <<CFG
data: {train: $tmp/train.mlb}
model: {cutoff: 5.5, elements: [Si], hidden: [24, 24]}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse, normalizer: rmsd, element_references: fit}
  - {name: forces, property: forces, datasets: [si], loss: mse}
  - {name: stress, property: stress, datasets: [si], loss: mse}
optim: {lr: 0.001}
schedule: {epochs: 2}
train: {print_every: 0}
CFG
/usr/bin/time -f "%e %M" -o "$tmp/train.time" "$bin/mlip-train" -q -c "$tmp/cfg.yaml" -o "$tmp/run" > /dev/null
read -r secs kb < "$tmp/train.time"
echo "training, whole mlearn Si set (214 structures, 13 233 atoms), 2 epochs: $secs s, peak $((kb / 1024)) MB"
$py - "$tmp/si8000.xyz" <<'PYEOF'
import sys
import numpy as np
from ase.build import bulk
a = bulk("Si", "diamond", 5.431, cubic=True) * (10, 10, 10)
a.rattle(0.05, seed=1)
a.write(sys.argv[1], format="extxyz")
PYEOF
for th in 1 2; do
	best=999
	for k in 1 2 3; do
		OMP_NUM_THREADS=$th /usr/bin/time -f "%e %M" -o "$tmp/eval.time" \
			"$bin/mlip-eval" -q -p "$tmp/pred.xyz" "$tmp/run/inference_ckpt.mlip" "$tmp/si8000.xyz" > "$tmp/m.json"
		read -r secs kb < "$tmp/eval.time"
		best=$(awk -v a="$best" -v b="$secs" 'BEGIN { print (b < a) ? b : a }')
	done
	rate=$($py -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["atoms_per_s"])' "$tmp/m.json")
	echo "mlip-eval 8000-atom Si file (read, collate, E+F+stress, predictions written), $th thread(s): whole process $best s (best of 3), model $rate atoms/s, peak $((kb / 1024)) MB"
done
