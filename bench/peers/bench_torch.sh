#!/bin/sh
# bench/peers/bench_torch.sh - training throughput (atoms/s) of mlip against the
# PyTorch peer (bench/peers/torch_bpnn.py) on the mlearn Si training set
# (214 structures, 13 233 atoms; batches of 8 consecutive structures), with the
# default model: default descriptors (32), 24-24 tanh, cutoff 5.5 Å, energy +
# forces + stress losses, AdamW.
#
#   sh bench/peers/bench_torch.sh          (after make; MLIP_MLEARN_DIR as in the tests)
#
# Workers: 1 = one process, one thread; 2 = mlip under `mpiexec -n 2` (data
# parallel, one BLAS thread each) and torch with torch.set_num_threads(2).
# Timed: whole epochs after a warm-up, data loading and neighbour lists
# excluded. mlip's wall figures are mlip-train itself (atoms_per_s of its log lines
# for epochs 2 and 3; epoch 1 is the warm-up), float32 with --set
# model.precision=float32 (mixed precision: float64 master weights, the network in
# float32). Figures are the best of REPEATS (3) runs for mlip, of TORCH_REPEATS
# (1) for torch. The machine is shared: wall-clock figures move with the load of
# other jobs (printed), so the table also gives atoms per CPU-second (CPU time of
# the timed steps, summed over processes or threads), which moves much less; for
# mlip that column comes from bench/peers/mlip_step.c, the same step (model,
# tasks, backward, gradient sum over ranks, AdamW) timed alone, in the precision
# of its config.
set -eu
MPIEXEC=mpiexec.mpich
command -v "$MPIEXEC" >/dev/null 2>&1 || MPIEXEC=mpiexec
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
: "${MLIP_MLEARN_DIR:=$top/../shared/data/mlearn}"
: "${REPEATS:=3}"
: "${TORCH_REPEATS:=1}"
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
	echo "skip: python3-torch is not installed"
	exit 0
fi
[ -x bin/mlip-train ] && [ -x bin/mlip-collate ] || { echo "bench_torch: run make first" >&2; exit 1; }
data="$MLIP_MLEARN_DIR/Si/training.json"
[ -r "$data" ] || { echo "bench_torch: no $data (set MLIP_MLEARN_DIR)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/bench_torch.XXXXXX")
trap 'rm -rf "$W"' EXIT
PATH="$top/bin:$PATH"
MLIP_PLUGIN_PATH="$top/lib/plugins"
OPENBLAS_NUM_THREADS=1
export PATH MLIP_PLUGIN_PATH OPENBLAS_NUM_THREADS

# --- data and config
mlip-collate -q -c 5.5 -d si -b 8 -o "$W/train.mlb" "$data"
nb=$($PY -c 'import json, sys; print((len(json.load(open(sys.argv[1]))) + 7) // 8)' "$data")
cat > "$W/cfg.yaml" <<CFG
seed: 1
data: {train: [$W/train.mlb]}
model: {cutoff: 5.5, elements: [Si], hidden: [24, 24], activation: tanh}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse, normalizer: rmsd,
     element_references: fit}
  - {name: forces, property: forces, datasets: [si], loss: {name: mse, coefficient: 10}}
  - {name: stress, property: stress, datasets: [si], loss: mse}
optim: {lr: 0.001}
schedule: {epochs: 1, warmup_steps: 1}
train: {print_every: 0}
CFG

sed 's/activation: tanh}/activation: tanh, precision: float32}/' "$W/cfg.yaml" > "$W/cfg32.yaml"
grep -q "precision: float32" "$W/cfg32.yaml" || { echo "bench_torch: no float32 config" >&2; exit 1; }

# --- the step benchmark (one build: the precision is the config's)
PKG="$(pkg-config --cflags --libs yaml-0.1 jansson openblas mpich)"
CF="-std=c11 -D_GNU_SOURCE -O2 -fopenmp -Ilib -Iplugins"
# shellcheck disable=SC2086
cc $CF -o "$W/mlip_step" bench/peers/mlip_step.c lib/libmlip.a $PKG -ldl -lm

# --- the model torch starts from: mlip's, one epoch in (same descriptors, scaling, weights)
mlip-train -q -c "$W/cfg.yaml" -o "$W/init" > /dev/null

best() { sort -g | tail -n 1; }
# mlip-train: epochs 2 and 3 of a 3-epoch run, atoms/s of their log lines combined
mlip_train_rate() { # RANKS PRECISION
	r=$1 p=$(( (nb + $1 - 1) / $1 ))
	for k in $(seq "$REPEATS"); do
		if [ "$r" = 1 ]; then
			mlip-train -q --force -c "$W/cfg.yaml" -o "$W/run" --set schedule.epochs=3 --set train.print_every=$p \
				--set model.precision="$2"
		else
			$MPIEXEC -n "$r" mlip-train -q --force -c "$W/cfg.yaml" -o "$W/run" --set schedule.epochs=3 \
				--set train.print_every=$p --set model.precision="$2"
		fi | $PY -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
rows = [r["atoms_per_s"] for r in rows if r["type"] == "train"][1:3]
print(len(rows) / sum(1 / a for a in rows))'
		rm -rf "$W/run"
	done | best
}
# mlip_step: one epoch of warm-up, two timed; prints "wall cpu" atoms/s (best of each)
mlip_step_rate() { # CONFIG RANKS
	p=$(( (nb + $2 - 1) / $2 ))
	for k in $(seq "$REPEATS"); do
		if [ "$2" = 1 ]; then "$W/mlip_step" "$1" $p $((2 * p)); else $MPIEXEC -n "$2" "$W/mlip_step" "$1" $p $((2 * p)); fi
	done > "$W/step.jsonl"
	$PY -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(max(r["atoms_per_s"] for r in rows), max(r["atoms_per_cpu_s"] for r in rows))' "$W/step.jsonl"
}

echo "# training throughput, mlearn Si training set ($nb batches of 8), default model (24-24 tanh," \
	"32 functions, cutoff 5.5), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
m64_1=$(mlip_train_rate 1 float64)
m64_2=$(mlip_train_rate 2 float64)
m32_1=$(mlip_train_rate 1 float32)
m32_2=$(mlip_train_rate 2 float32)
s64_1=$(mlip_step_rate "$W/cfg.yaml" 1)
s64_2=$(mlip_step_rate "$W/cfg.yaml" 2)
s32_1=$(mlip_step_rate "$W/cfg32.yaml" 1)
s32_2=$(mlip_step_rate "$W/cfg32.yaml" 2)
for k in $(seq "$TORCH_REPEATS"); do
	$PY bench/peers/torch_bpnn.py train --ckpt "$W/init/inference_ckpt.mlip" --data "$data" \
		--dtype float64 --dtype float32 --threads 1 --threads 2 --warmup 2 --epochs 1
done > "$W/torch.jsonl"
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
$PY - "$W/torch.jsonl" "$m64_1" "$m64_2" "$m32_1" "$m32_2" $s64_1 $s64_2 $s32_1 $s32_2 <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tw, tc = {}, {}
for r in rows:
    k = (r["dtype"], r["threads"])
    tw[k] = max(tw.get(k, 0), r["atoms_per_s"])
    tc[k] = max(tc.get(k, 0), r["atoms_per_cpu_s"])
(m64_1, m64_2, m32_1, m32_2, s64_1w, s64_1c, s64_2w, s64_2c, s32_1w, s32_1c, s32_2w,
 s32_2c) = map(float, sys.argv[2:14])
mlip = {("float64", 1): (m64_1, s64_1c, "mlip-train"), ("float64", 2): (m64_2, s64_2c, "mlip-train, mpiexec -n 2"),
        ("float32", 1): (m32_1, s32_1c, "mlip-train, model.precision=float32"),
        ("float32", 2): (m32_2, s32_2c, "mlip-train, model.precision=float32, mpiexec -n 2")}
print(f"{'':17s} {'---- atoms/s (wall) ----':>38s}   {'---- atoms per CPU-second ----':>38s}")
print(f"{'precision':9s} {'workers':>7s} {'mlip':>12s} {'torch':>12s} {'ratio':>12s}   "
      f"{'mlip_step':>12s} {'torch':>12s} {'ratio':>12s}   mlip wall figure from")
for dt in ("float64", "float32"):
    for w in (1, 2):
        m, mc, how = mlip[(dt, w)]
        t, c = tw.get((dt, w), float("nan")), tc.get((dt, w), float("nan"))
        print(f"{dt:9s} {w:7d} {m:12.0f} {t:12.0f} {m / t:12.1f}   {mc:12.0f} {c:12.0f} {mc / c:12.1f}   {how}")
print(f"(mlip_step wall, float64: {s64_1w:.0f} atoms/s on 1 worker, {s64_2w:.0f} on 2; "
      f"float32: {s32_1w:.0f}, {s32_2w:.0f})")
PYEOF
