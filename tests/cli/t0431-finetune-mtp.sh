# mlip-finetune-init on a moment tensor basis model: the inputs map by
# function (a higher level, or two-body functions beyond the level, keep the
# model's functions and add zero-weight inputs), the radial coefficients of the element pairs the model knows are
# kept (trained ones copied into mtp.radial; fixed ones must come out the
# same, else a clear refusal), and the kept element predicts exactly as the
# model did.
. tests/cli/lib.sh
mlip-collate -q -c 4.5 -d si -b 4 -o "$TMPD/si.mlb" "$MLIP_TOP/share/demo/si-test.json" || die "collate"
cat > "$TMPD/cfg.yaml" <<CFG
seed: 1
data: {train: [$TMPD/si.mlb]}
model: {cutoff: 4.5, elements: [Si], hidden: [8], descriptor: {type: mtp, level: 10}}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse, normalizer: rmsd,
     element_references: fit, metrics: [per_atom_mae]}
  - {name: forces, property: forces, datasets: [si], loss: mse, metrics: [mae]}
optim: {lr: 0.01}
schedule: {epochs: 2}
CFG
mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/fixed" > /dev/null || die "training the fixed model"
mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/trained" --set model.descriptor.train_radial=true \
	> /dev/null || die "training the trained-radial model"
same_si() { # BASE START: START predicts the silicon structures exactly as BASE
	mlip-eval -q -p "$TMPD/a.xyz" "$1" "$TMPD/si.mlb" > /dev/null || die "eval $1"
	mlip-eval -q -p "$TMPD/b.xyz" "$2" "$TMPD/si.mlb" > /dev/null || die "eval $2"
	$PY - "$TMPD/a.xyz" "$TMPD/b.xyz" <<'PYEOF' || die "$2 does not predict silicon as $1 does"
import sys
from ase.io import read
a, b = read(sys.argv[1], ":"), read(sys.argv[2], ":")
assert len(a) == len(b) > 0
for x, y in zip(a, b):   # to rounding: zero-weight inputs change the order of sums
    e1, e2 = x.get_potential_energy(), y.get_potential_energy()
    assert abs(e1 - e2) <= 1e-12 * abs(e1), (e1, e2)
    assert abs(x.get_forces() - y.get_forces()).max() <= 1e-12, abs(x.get_forces() - y.get_forces()).max()
PYEOF
}
for kind in fixed trained; do
	base="$TMPD/$kind/inference_ckpt.mlip"
	# unchanged, a higher level, a new element after silicon
	expect_status 0 mlip-finetune-init "$base" -o "$TMPD/$kind-same.mlip"
	same_si "$base" "$TMPD/$kind-same.mlip"
	expect_status 0 mlip-finetune-init "$base" -o "$TMPD/$kind-l14.mlip" \
		--set 'model.descriptor.level=14'
	expect_err "element Si: descriptor set of 38 functions, 14 of them from the model"
	same_si "$base" "$TMPD/$kind-l14.mlip"
	# two-body functions beyond the level (n_pair: μ 3 .. 5 at level 10)
	expect_status 0 mlip-finetune-init "$base" -o "$TMPD/$kind-p6.mlip" \
		--set 'model.descriptor.n_pair=6'
	expect_err "element Si: descriptor set of 17 functions, 14 of them from the model"
	same_si "$base" "$TMPD/$kind-p6.mlip"
	expect_status 0 mlip-finetune-init "$base" -o "$TMPD/$kind-li.mlip" --set 'model.elements=[Si, Li]'
	same_si "$base" "$TMPD/$kind-li.mlip"
done
expect_err "mtp.radial: the radial coefficients of the 1 element pairs the model knows are the model's"
# lithium first: the fixed coefficients of Si-Si would be drawn for another pair index
expect_status 2 mlip-finetune-init "$TMPD/fixed/inference_ckpt.mlip" -o "$TMPD/x.mlip" \
	--set 'model.elements=[Li, Si]'
expect_err "set model.descriptor.train_radial: true"
# ... which stores them: the model's coefficients are copied, silicon predicts the same
for kind in fixed trained; do
	expect_status 0 mlip-finetune-init "$TMPD/$kind/inference_ckpt.mlip" -o "$TMPD/$kind-lisi.mlip" \
		--set 'model.elements=[Li, Si]' --set model.descriptor.train_radial=true
	same_si "$TMPD/$kind/inference_ckpt.mlip" "$TMPD/$kind-lisi.mlip"
done
# another radial basis: no function is the same
expect_status 2 mlip-finetune-init "$TMPD/trained/inference_ckpt.mlip" -o "$TMPD/x.mlip" \
	--set 'model.descriptor.r_min=1.0'
expect_err "14 of its 14 descriptor functions in the model are not in the new set (the first: moment function of level 2: M(0,0))"
