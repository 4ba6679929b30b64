# Helpers for the command-line tests; sourced by tests/cli/tNNNN-*.sh.
# Every helper prints what was expected and what happened, then exits 1.
set -u

die() { echo "$*" >&2; exit 1; }

# expect_status N CMD...: run CMD, require exit status N; stdout in $TMPD/out,
# stderr in $TMPD/err.
expect_status() {
	want=$1; shift
	"$@" >"$TMPD/out" 2>"$TMPD/err"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "command: $*" >&2
		echo "expected exit status $want, got $got; stderr:" >&2
		cat "$TMPD/err" >&2
		exit 1
	fi
}

# expect_err TEXT: the last command's stderr contains TEXT.
expect_err() {
	grep -qF -- "$1" "$TMPD/err" || { echo "stderr lacks: $1" >&2; echo "stderr was:" >&2; cat "$TMPD/err" >&2; exit 1; }
}

# expect_out TEXT: the last command's stdout contains TEXT.
expect_out() {
	grep -qF -- "$1" "$TMPD/out" || { echo "stdout lacks: $1" >&2; head -c 2000 "$TMPD/out" >&2; exit 1; }
}

# expect_eq A B WHAT
expect_eq() {
	[ "$1" = "$2" ] || die "$3: expected '$2', got '$1'"
}

# The Debian Python with ASE (the pyenv one on PATH may lack it).
PY=/usr/bin/python3
have_ase() { "$PY" -c 'import ase' >/dev/null 2>&1; }

# si_config FILE TRAIN VAL [EXTRA_YAML_LINES]: a small but real training config
# on silicon (energy, forces, stress) for the command-line tests.
si_config() {
	cat > "$1" <<CFG
seed: 3
data: {train: [$2], val: [$3]}
model: {cutoff: 4.5, elements: [Si], hidden: [12, 12]}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse, normalizer: rmsd,
     element_references: fit, metrics: [mae, per_atom_mae, rmse]}
  - {name: forces, property: forces, datasets: [si], loss: {name: mse, coefficient: 10},
     metrics: [mae, rmse, cosine_similarity]}
  - {name: stress, property: stress, datasets: [si], loss: {name: mse, coefficient: 1}, metrics: [mae]}
optim: {lr: 0.005}
schedule: {epochs: 4, warmup_steps: 2}
train: {print_every: 1, ema_decay: 0.9}
CFG
}

# si_streams DIR: train.mlb (20 structures, batches of 4) and val.mlb (5) from the Si test set
si_streams() {
	mlip-collate -q -c 4.5 -d si -b 4 --split 0.8 --seed 2 -o "$1/train.mlb" -o "$1/val.mlb" \
		"$MLIP_TOP/share/demo/si-test.json" || die "collate failed"
}

# jq_last FILE TYPE KEY: the KEY of the last JSON line of type TYPE
json_last() {
	$PY -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["type"] == sys.argv[2]]
print(repr(rows[-1][sys.argv[3]]))' "$1" "$2" "$3"
}

# The MPI launcher of the toolkit's own MPI (MPICH). Debian's lammps pulls in
# Open MPI, whose package takes over the plain `mpiexec`; MPICH's launcher
# keeps its own name.
if [ -z "${MPIEXEC:-}" ]; then
	if command -v mpiexec.mpich >/dev/null 2>&1; then MPIEXEC=mpiexec.mpich; else MPIEXEC=mpiexec; fi
fi

# si_model DIR: a small but physically sensible silicon model trained on the
# bundled share/demo/si-train.json (cutoff 5.0 Å, 12-12 network, AdamW then
# L-BFGS; a few seconds): DIR/run/inference_ckpt.mlip, and DIR/test.mlb, the
# bundled held-out structures collated at its cutoff.
si_model() {
	mlip-collate -q -c 5.0 -d si -b 4 --split 0.9 --seed 1 -o "$1/train.mlb" -o "$1/val.mlb" \
		"$MLIP_TOP/share/demo/si-train.json" || die "si_model: collate failed"
	mlip-collate -q -c 5.0 -d si -o "$1/test.mlb" "$MLIP_TOP/share/demo/si-test.json" ||
		die "si_model: collate failed"
	cat > "$1/model.yaml" <<CFG
seed: 1
data: {train: [$1/train.mlb], val: [$1/val.mlb]}
model: {cutoff: 5.0, elements: [Si], hidden: [12, 12]}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: {name: per_atom_mse, coefficient: 20},
     normalizer: rmsd, element_references: fit, metrics: [mae, per_atom_mae]}
  - {name: forces, property: forces, datasets: [si], loss: mse, metrics: [mae]}
  - {name: stress, property: stress, datasets: [si], loss: mse, metrics: [mae]}
optim: {lr: 0.01, lbfgs: {steps: 60}}
schedule: {epochs: 20, warmup_epochs: 1, lr_min_factor: 0.01}
train: {ema_decay: 0.99, print_every: 1000}
CFG
	mlip-train -q -c "$1/model.yaml" -o "$1/run" > "$1/train.jsonl" || die "si_model: training failed"
}

# model_paths_agree RUN VAL: the run's final checkpoint converts to exactly its
# model, mlip-eval measures the model on VAL (labelled "si" data), and libmlip
# (the Python package, when ASE is there) predicts what mlip-eval wrote to 1e-10.
model_paths_agree() {
	expect_status 0 mlip-ckpt-convert -q "$1/checkpoints/final" "$TMPD/conv.mlip"
	cmp -s "$TMPD/conv.mlip" "$1/inference_ckpt.mlip" || die "convert differs from the run's model"
	expect_status 0 mlip-eval -p "$TMPD/pred.xyz" "$1/inference_ckpt.mlip" "$2"
	expect_out '"si,forces,mae":'
	have_ase || return 0
	PYTHONPATH="$MLIP_TOP/share/python" $PY - "$1/inference_ckpt.mlip" "$TMPD/pred.xyz" <<'PYEOF' \
		|| die "libmlip differs from mlip-eval"
import sys
import numpy as np
from ase.io import read
import mlip
m = mlip.Model(sys.argv[1])
worst = 0.0
for a in read(sys.argv[2], ":"):
    r = m.compute(a.numbers, a.positions, a.cell.array, a.pbc)
    worst = max(worst, abs(r["energy"] - a.info["energy"]) / abs(a.info["energy"]),
                np.abs(r["forces"] - a.arrays["forces"]).max() / max(np.abs(a.arrays["forces"]).max(), 1e-3))
assert worst < 1e-10, worst
PYEOF
}

# oracle_setup: for the PyTorch oracle tests (t05xx). Exits 0 with a skip
# line when python3-torch is missing; sets ORACLE (mlip's dump program) and
# TORCH (the independent implementation), and writes to $TMPD the mlearn Si
# streams (train.mlb, val.mlb), val.mlb as extxyz (si_val.xyz) and the
# synthetic Si–C structures of tests/oracle/synth.py collated at 4 Å (syn.mlb);
# SYN_TRAINING is the tasks, optim, schedule and train sections of a config
# for them (two heads, energy, forces and stress).
oracle_setup() {
	SYN_TRAINING='tasks:
  - {name: energy, property: energy, datasets: [syn], loss: per_atom_mse, normalizer: rmsd,
     element_references: fit}
  - {name: forces, property: forces, datasets: [syn], loss: {name: mse, coefficient: 10}}
  - {name: stress, property: stress, datasets: [syn], loss: mse}
  - {name: aux, property: energy, head: aux, datasets: [syn], loss: mse, normalizer: rmsd,
     element_references: fit}
  - {name: auxf, property: forces, head: aux, datasets: [syn], loss: mse}
optim: {lr: 0.01}
schedule: {epochs: 3, warmup_steps: 1}
train: {ema_decay: 0.5}'

	if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
		echo "skip: python3-torch is not installed"
		exit 0
	fi
	ORACLE=build/tests/oracle/oracle_dump
	[ -x "$ORACLE" ] || die "$ORACLE is missing: build it with 'make oracle'"
	TORCH="$PY bench/peers/torch_bpnn.py"
	si_streams "$TMPD"
	mlip-collate -q --dump --dump-format extxyz "$TMPD/val.mlb" > "$TMPD/si_val.xyz" || die "dump failed"
	$PY tests/oracle/synth.py "$TMPD" || die "synth.py failed"
	mlip-collate -q -c 4.0 -d syn -b 4 -o "$TMPD/syn.mlb" "$TMPD/syn_train.xyz" || die "collate syn failed"
}
