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

# The data: each rank decodes only the batches it trains on, one at a time,
# so a rank's memory does not grow with the training set (the stream is the
# bundled Si training set concatenated 40 times, a small demo-sized model,
# 20 steps after the fit of scaling and references over the whole set).
echo "## peak memory per rank against the size of the training stream"
"$bin/mlip-collate" -q -c 5.5 -d si -b 4 -o "$tmp/one.mlb" "$top/share/demo/si-train.json"
: > "$tmp/big.mlb"
for i in $(seq 40); do cat "$tmp/one.mlb" >> "$tmp/big.mlb"; done
printf '    %-10s %5s %10s %10s\n' stream ranks "rank 0 MB" "rank 1 MB"
for data in one big; do
	mb=$(du -m "$tmp/$data.mlb" | cut -f1)
	for w in 1 2; do
		rm -rf "$tmp/run" "$tmp"/peak.*
		OPENBLAS_NUM_THREADS=1 $mpiexec -n $w sh -c 'exec /usr/bin/time -f %M -o "$0/peak.${PMI_RANK:-0}" "$@"' \
			"$tmp" "$bin/mlip-train" -c "$top/share/configs/demo.yaml" -o "$tmp/run" \
			--set "data.train=[$tmp/$data.mlb]" --unset data.val --unset schedule.epochs --unset schedule.warmup_epochs --set schedule.steps=20 \
			--set schedule.warmup_steps=2 --set optim.lbfgs.steps=0 \
			> /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
		p0=$(awk '{ printf "%.1f", $1 / 1024 }' "$tmp/peak.0")
		p1=$([ -f "$tmp/peak.1" ] && awk '{ printf "%.1f", $1 / 1024 }' "$tmp/peak.1" || echo -)
		printf '    %-10s %5s %10s %10s\n' "$mb MB" $w "$p0" "$p1"
	done
done
