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
		"$MLIP_MLEARN_DIR/Si/test.json" || die "collate failed"
}

# jq_last FILE TYPE KEY: the KEY of the last JSON line of type TYPE
json_last() {
	$PY -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["type"] == sys.argv[2]]
print(repr(rows[-1][sys.argv[3]]))' "$1" "$2" "$3"
}
