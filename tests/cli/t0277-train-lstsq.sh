# optim.name lstsq: mlip-train solves a linear model (model.hidden: []) on the
# moment tensor basis or the symmetry functions exactly (an L-BFGS phase may
# follow, e.g. for trained radial coefficients). The solution is the
# training loss's minimum: L-BFGS on the same objective does not get below it
# and, run long enough, gets to it; two MPI ranks give the same model as one;
# the records and the model are those of any run; what the solver cannot do
# is refused with a message.
. tests/cli/lib.sh
si_streams "$TMPD"
cat > "$TMPD/cfg.yaml" <<CFG
seed: 1
data: {train: [$TMPD/train.mlb], val: [$TMPD/val.mlb]}
model: {cutoff: 4.5, elements: [Si], hidden: [], descriptor: {type: mtp, level: 12}}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: {name: per_atom_mse, coefficient: 20},
     normalizer: rmsd, element_references: fit, metrics: [per_atom_mae]}
  - {name: forces, property: forces, datasets: [si], loss: mse, metrics: [mae]}
  - {name: stress, property: stress, datasets: [si], loss: mse, metrics: [mae]}
optim: {name: lstsq, ridge: 0}
train: {print_every: 0}
CFG
loss_of() { # FILE OPTIMIZER: the loss of the last train record of that optimizer
	$PY -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(repr([r for r in rows if r["type"] == "train" and r.get("optimizer") == sys.argv[2]][-1]["loss"]))' "$1" "$2"
}

# one process: a train record with the solution's losses, validation, end, the model
expect_status 0 mlip-train -c "$TMPD/cfg.yaml" -o "$TMPD/run1"
expect_err "lstsq: head energy: 24 of 24 columns fitted, rank 24"
cp "$TMPD/out" "$TMPD/m1.jsonl"
jq -e -s '[.[] | .type] == ["train", "val", "end"] and .[0].optimizer == "lstsq" and
	.[2].optimizer == "lstsq" and .[1]["val/si,energy,per_atom_mae"] < 0.05' "$TMPD/m1.jsonl" \
	> /dev/null || die "unexpected records: $(cat "$TMPD/m1.jsonl")"
[ -s "$TMPD/run1/inference_ckpt.mlip" ] || die "no model"
lsq=$(loss_of "$TMPD/m1.jsonl" lstsq)

# the same objective minimised by AdamW then L-BFGS: never below, and close after 400 steps
expect_status 0 mlip-train -c "$TMPD/cfg.yaml" -o "$TMPD/iter" --set optim='{lr: 0.01, lbfgs: {steps: 400, history: 20}}' \
	--set 'schedule={epochs: 2}'
it=$(loss_of "$TMPD/out" lbfgs)
$PY -c "
lsq, it = $lsq, $it
assert it >= lsq * (1 - 1e-9), ('l-bfgs below the exact minimum', it, lsq)
assert it <= lsq * 1.01, ('l-bfgs far from the exact minimum (or lstsq is not the minimum)', it, lsq)
print('note: loss at the lstsq solution %.9g, after l-bfgs %.9g' % (lsq, it))"

# an L-BFGS phase after the solve trains every parameter: the trained radial coefficients of
# the moment tensor basis lower the loss below the linear optimum of the starting radials
expect_status 0 mlip-train -c "$TMPD/cfg.yaml" -o "$TMPD/radial" --set optim.lbfgs.steps=15 \
	--set 'model.descriptor={type: mtp, level: 12, train_radial: true}'
first=$(loss_of "$TMPD/out" lstsq)
last=$(loss_of "$TMPD/out" lbfgs)
$PY -c "
assert $first == $lsq, ($first, $lsq)   # the same solve: the radials start where they were fixed
assert $last < 0.99 * $first, ('l-bfgs on the radials did not lower the loss', $last, $first)"
jq -e -s '.[-1].type == "end" and .[-1].optimizer == "lbfgs"' "$TMPD/out" > /dev/null || die "end record"

# two ranks: each forms the normal equations of its batches, one reduction, the same model
expect_status 0 timeout 120 $MPIEXEC -n 2 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/run2"
for w in 1 2; do
	mlip-eval -q -p "$TMPD/p$w.xyz" "$TMPD/run$w/inference_ckpt.mlip" "$TMPD/val.mlb" > /dev/null \
		|| die "mlip-eval failed on run$w"
done
$PY - "$TMPD/p1.xyz" "$TMPD/p2.xyz" <<'PYEOF' || exit 1
import sys
from ase.io import read
a, b = read(sys.argv[1], ":"), read(sys.argv[2], ":")
assert len(a) == len(b) > 0
for x, y in zip(a, b):
    e1, e2 = x.get_potential_energy(), y.get_potential_energy()
    assert abs(e1 - e2) <= 1e-10 * max(1, abs(e1)), (e1, e2)
    assert abs(x.get_forces() - y.get_forces()).max() < 1e-10
PYEOF

# the symmetry functions (with the default ridge and no schedule section) work the same way
expect_status 0 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/sf" --unset model.descriptor \
	--unset optim.ridge
jq -e -s '.[-1].type == "end" and .[-1].optimizer == "lstsq"' "$TMPD/out" > /dev/null || die "sf run"

# refusals
expect_status 2 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/bad1" --set 'model.hidden=[8]'
expect_err "hidden"
expect_status 2 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/bad2" --set 'tasks.1.loss=mae'
expect_err "task 'forces': lstsq minimises quadratic losses only (mse, per_atom_mse), not 'mae'"
expect_status 2 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/bad3" --set optim.name=adamw --set optim.lr=0.01 --unset optim.ridge
expect_err "schedule"
