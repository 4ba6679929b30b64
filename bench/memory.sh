#!/bin/sh
# Peak memory per rank of mlip-train (maximum resident set, from
# /usr/bin/time) for W = 1 and 2 ranks, ddp and sharded, on a model with
# about 1 M parameters (32 symmetry functions, 700-700-700 tanh) trained for
# one epoch on the bundled 25 Si test structures: what sharding saves (the
# AdamW moments and the EMA of the other ranks' shards, 3 x 8 bytes per
# parameter) beside what every rank holds whole (parameters, gradients, the
# batches and the network's activations).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/bin"
mpiexec=mpiexec.mpich
command -v $mpiexec >/dev/null 2>&1 || mpiexec=mpiexec
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "## peak memory per rank (mlip-train, about 1 M parameters)"
"$bin/mlip-collate" -q -c 5.0 -d si -b 5 -o "$tmp/train.mlb" "$top/share/demo/si-test.json"
cat > "$tmp/cfg.yaml" <<CFG
seed: 1
data: {train: [$tmp/train.mlb]}
model: {cutoff: 5.0, elements: [Si], hidden: [700, 700, 700]}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse, normalizer: rmsd, element_references: fit}
  - {name: forces, property: forces, datasets: [si], loss: mse}
optim: {lr: 0.001}
schedule: {epochs: 1}
train: {ema_decay: 0.99, print_every: 1000}
CFG
printf '    %-8s %5s %10s %10s  %s\n' strategy ranks "rank 0 MB" "rank 1 MB" "moments and EMA held by rank 0"
for w in 1 2; do
	for strategy in ddp sharded; do
		rm -rf "$tmp/run" "$tmp"/peak.*
		# each rank's peak, by its MPICH rank number
		OPENBLAS_NUM_THREADS=1 $mpiexec -n $w sh -c 'exec /usr/bin/time -f %M -o "$0/peak.${PMI_RANK:-0}" "$@"' \
			"$tmp" "$bin/mlip-train" -c "$tmp/cfg.yaml" -o "$tmp/run" --set train.strategy=$strategy \
			> /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
		held=$(sed -n 's/.*optimizer state on rank 0: \([0-9]* of [0-9]*\) parameters.*/\1/p' "$tmp/err")
		p0=$(awk '{ printf "%.1f", $1 / 1024 }' "$tmp/peak.0")
		p1=$([ -f "$tmp/peak.1" ] && awk '{ printf "%.1f", $1 / 1024 }' "$tmp/peak.1" || echo -)
		printf '    %-8s %5s %10s %10s  %s\n' $strategy $w "$p0" "$p1" "$held"
	done
done
