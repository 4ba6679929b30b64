#!/bin/sh
# MD through KIM: LAMMPS NVE steps/s and atoms·steps/s on the 8 000-atom Si
# diamond cell of bench/eval.sh (10×10×10 conventional cells, a = 5.431 Å,
# rattled by 0.05 Å), with the model of bench/eval.sh (cutoff 5.5 Å, default
# 32 symmetry functions, 24-24 tanh, 2 epochs on the mlearn Si training set)
# installed by mlip-kim-install, on 1 and 2 MPI ranks (Open MPI, which
# Debian's lammps links); beside it mlip-eval's model throughput (energy,
# forces, stress) on the same cell, one thread. The ratio per core says what
# the KIM path (neighbour lists, integration, communication, the driver's
# copies) costs against mlip's own kernel. Skipped without LAMMPS or the KIM
# API. Best of 3 runs each; a shared machine makes single runs noisy.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/bin"
py=/usr/bin/python3
steps=${LAMMPS_BENCH_STEPS:-40}
echo "## LAMMPS through KIM (mlip_model_driver over libmlip.so.1)"
for t in lmp kim-api-collections-management mpiexec.openmpi; do
	if ! command -v $t >/dev/null 2>&1; then
		echo "skipped: $t is not installed (Debian: lammps, libkim-api-dev)"
		exit 0
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# a private KIM collection: the benchmark leaves the user's alone
HOME="$tmp/home"
KIM_API_MODEL_DRIVERS_DIR="$tmp/kim/drivers"
KIM_API_PORTABLE_MODELS_DIR="$tmp/kim/models"
OMP_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1
export HOME KIM_API_MODEL_DRIVERS_DIR KIM_API_PORTABLE_MODELS_DIR OMP_NUM_THREADS OPENBLAS_NUM_THREADS
mkdir -p "$HOME" "$KIM_API_MODEL_DRIVERS_DIR" "$KIM_API_PORTABLE_MODELS_DIR"

data="${MLIP_MLEARN_DIR:-$top/../shared/data/mlearn}/Si/training.json"
what="2 epochs on the mlearn Si training set"
if [ ! -f "$data" ]; then
	data="$top/share/demo/si-train.json"
	what="2 epochs on share/demo/si-train.json (the mlearn set is not here)"
fi
"$bin/mlip-collate" -q -c 5.5 -d si -b 4 -o "$tmp/train.mlb" "$data"
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
"$bin/mlip-train" -q -c "$tmp/cfg.yaml" -o "$tmp/run" > /dev/null
model="$tmp/run/inference_ckpt.mlip"
"$bin/mlip-kim-install" -q -c environment "$model" mlip_bench

# one structure, two files: extxyz for mlip-eval, a data file for LAMMPS
$py - "$tmp/si8000.xyz" "$tmp/si8000.data" <<'PYEOF'
import sys
from ase.build import bulk
a = bulk("Si", "diamond", 5.431, cubic=True) * (10, 10, 10)
a.rattle(0.05, seed=1)
a.wrap()
a.write(sys.argv[1], format="extxyz")
c = a.get_cell().array
with open(sys.argv[2], "w") as f:
    f.write("8000-atom Si\n\n%d atoms\n1 atom types\n\n" % len(a))
    for k, label in enumerate(("xlo xhi", "ylo yhi", "zlo zhi")):
        f.write("0 %r %s\n" % (c[k, k], label))
    f.write("\nMasses\n\n1 28.0855\n\nAtoms # atomic\n\n")
    for k, p in enumerate(a.get_positions()):
        f.write("%d 1 %r %r %r\n" % (k + 1, p[0], p[1], p[2]))
PYEOF
cat > "$tmp/md.in" <<LMP
kim init mlip_bench metal
atom_style atomic
boundary p p p
read_data $tmp/si8000.data
kim interactions Si
velocity all create 600.0 12345 mom yes rot yes
timestep 0.001
fix 1 all nve
thermo 10
run 5
run $steps
LMP

# lmp_best NP: the best loop time (s) of $steps MD steps over 3 runs on NP ranks
lmp_best() {
	best=999999
	for k in 1 2 3; do
		if [ "$1" = 1 ]; then
			lmp -screen none -log "$tmp/md.log" -in "$tmp/md.in" > /dev/null
		else
			mpiexec.openmpi --allow-run-as-root --oversubscribe -np "$1" \
				lmp -screen none -log "$tmp/md.log" -in "$tmp/md.in" > /dev/null
		fi
		t=$(awk -v s="$steps" '/^Loop time of/ && $(NF-4) == s { print $4 }' "$tmp/md.log" | tail -n 1)
		best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (b < a) ? b : a }')
	done
	echo "$best"
}
t1=$(lmp_best 1)
t2=$(lmp_best 2)

rate=0
for k in 1 2 3; do
	# (the cell has no labels: only the predictions and the timing matter)
	"$bin/mlip-eval" -q -p "$tmp/pred.xyz" "$model" "$tmp/si8000.xyz" > "$tmp/m.json" 2> /dev/null
	r=$($py -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["atoms_per_s"])' "$tmp/m.json")
	rate=$(awk -v a="$rate" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
done

echo "model: cutoff 5.5 A, 24-24 tanh, $what"
awk -v t1="$t1" -v t2="$t2" -v s="$steps" -v r="$rate" 'BEGIN {
	n = 8000
	a1 = n * s / t1; a2 = n * s / t2
	printf "LAMMPS NVE, 8000-atom Si, 1 rank: %.1f steps/s, %.0f atoms*steps/s (best of 3 runs of %d steps)\n", s / t1, a1, s
	printf "LAMMPS NVE, 8000-atom Si, 2 ranks: %.1f steps/s, %.0f atoms*steps/s, %.0f per core\n", s / t2, a2, a2 / 2
	printf "mlip-eval, same cell, 1 thread: %.0f atoms/s (model: energy, forces, stress; best of 3)\n", r
	printf "KIM path per core against mlip-eval: %.2f on 1 rank, %.2f on 2 ranks\n", a1 / r, a2 / 2 / r
}'
