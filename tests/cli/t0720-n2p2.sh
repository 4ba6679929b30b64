# n2p2: a trained model exported with mlip-ckpt-convert --n2p2 gives, in an
# independent n2p2 evaluator (tests/n2p2/nnp_eval.py, written from n2p2's
# definitions), the energies and forces mlip-eval gives: the default set
# (G2, G9) on silicon, and G3 / shifted G9 / softplus on two elements whose
# n2p2 order differs from the model's. input.data written by
# mlip-collate --dump --dump-format n2p2 reads back the same; the refusals
# (SiLU, a per-structure energy shift) and bad input say why.
. tests/cli/lib.sh
N2P2="$MLIP_TOP/tests/n2p2"
mkdir "$TMPD/si" && si_model "$TMPD/si"
model="$TMPD/si/run/inference_ckpt.mlip"

# export, with the training data's ranges
expect_status 0 mlip-ckpt-convert --n2p2 "$TMPD/nnp" --data "$TMPD/si/train.mlb" "$model"
expect_err "n2p2 potential of head 'energy' (1 element, EMA weights)"
for f in input.nn scaling.data weights.014.data; do [ -s "$TMPD/nnp/$f" ] || die "no $f"; done
grep -qx "global_activation_short t t l" "$TMPD/nnp/input.nn" || die "activations"
grep -q "^atom_energy Si " "$TMPD/nnp/input.nn" || die "no element reference"
grep -q "^conv_energy " "$TMPD/nnp/input.nn" || die "no energy scale"
# the training checkpoint directory exports the same files (EMA weights, as its model)
expect_status 0 mlip-ckpt-convert -q --n2p2 "$TMPD/nnp2" --data "$TMPD/si/train.mlb" "$TMPD/si/run/checkpoints/final"
[ -s "$TMPD/out" ] || [ -s "$TMPD/err" ] && die "-q printed something"
for f in input.nn scaling.data weights.014.data; do
	cmp -s "$TMPD/nnp/$f" "$TMPD/nnp2/$f" || die "$f differs between the checkpoint directory and its model"
done

# input.data of the test structures, and the evaluator against mlip-eval
mlip-collate --dump --dump-format n2p2 "$TMPD/si/test.mlb" > "$TMPD/test.data" || die "dump failed"
expect_eq "$(grep -c '^begin' "$TMPD/test.data")" 25 "structures dumped"
mlip-eval -p "$TMPD/pred.xyz" "$model" "$TMPD/si/test.mlb" > /dev/null || die "mlip-eval failed"
# a few structures (the evaluator is plain numpy): 63, 36 and 24 atoms, triclinic cells
keep=0,7,8
awk -v keep=",$keep," 'BEGIN { i = -1 } /^begin/ { i++ } index(keep, "," i ",")' "$TMPD/test.data" > "$TMPD/sub.data"
$PY "$N2P2/nnp_eval.py" --fd 1e-5 "$TMPD/nnp" "$TMPD/sub.data" > "$TMPD/eval.jsonl" || die "nnp_eval failed"
$PY "$N2P2/compare.py" "$TMPD/eval.jsonl" "$TMPD/pred.xyz" "$keep" 1e-10 1e-10 || die "n2p2 and mlip differ"
# the evaluator's forces are the derivative of its energy
$PY -c 'import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
sys.exit(0 if r["fd_max_abs"] < 1e-6 else "finite differences: %r" % r)' "$TMPD/eval.jsonl" || die "fd check"

# input.data back into a stream: the same structures, the same predictions
expect_status 0 mlip-collate -q -c 5.0 -d si -o "$TMPD/back.mlb" "$TMPD/test.data"
mlip-collate --dump --dump-format n2p2 "$TMPD/back.mlb" | grep -v '^comment' > "$TMPD/back.data"
grep -v '^comment' "$TMPD/test.data" | cmp -s - "$TMPD/back.data" || die "input.data round trip differs"
mlip-eval -p "$TMPD/pred2.xyz" "$model" "$TMPD/back.mlb" > /dev/null || die "mlip-eval on input.data failed"
$PY "$N2P2/compare.py" "$TMPD/eval.jsonl" "$TMPD/pred2.xyz" "$keep" 1e-13 1e-12 || die "round trip changed predictions"
# mlip-eval reads input.data itself (by name, and by its first word on standard input)
mlip-eval -d si "$model" "$TMPD/back.mlb" | jq -S 'del(.atoms_per_s, .timestamp)' > "$TMPD/e1.json"
mlip-eval -d si "$model" "$TMPD/test.data" | jq -S 'del(.atoms_per_s, .timestamp)' > "$TMPD/e2.json"
mlip-eval -d si "$model" - < "$TMPD/test.data" | jq -S 'del(.atoms_per_s, .timestamp)' > "$TMPD/e3.json"
cmp -s "$TMPD/e1.json" "$TMPD/e2.json" && cmp -s "$TMPD/e1.json" "$TMPD/e3.json" ||
	die "mlip-eval on input.data differs from the stream: $(diff "$TMPD/e1.json" "$TMPD/e2.json")"

# two elements (every third atom relabelled Ge), G3 and shifted G9, softplus, model order Ge, Si
awk '/^atom/ { n++; if (n % 3 == 0) $5 = "Ge" } /^begin/ { n = 0 } { print }' "$TMPD/test.data" > "$TMPD/sige.data"
expect_status 0 mlip-collate -q -c 4.5 -d sige -b 5 -o "$TMPD/sige.mlb" "$TMPD/sige.data"
cat > "$TMPD/sige.yaml" <<CFG
seed: 2
data: {train: [$TMPD/sige.mlb]}
model:
  cutoff: 4.5
  elements: [Ge, Si]
  hidden: [6]
  activation: softplus
  descriptors:
    - {kind: g2, elements: [Si], eta: 0.5, rs: 2.0}
    - {kind: g2, elements: [Ge], eta: 0.5, rs: 2.0}
    - {kind: g2, elements: [Si], eta: 0.8, rs: 3.0, cutoff: 4.0}
    - {kind: g3, elements: [Si, Ge], eta: 0.05, lambda: 1, zeta: 2}
    - {kind: g3, elements: [Ge, Ge], eta: 0.1, rs: 1.5, lambda: -1, zeta: 1.5, cutoff: 4.0}
    - {kind: g3, elements: [Si, Si], eta: 0.02, lambda: -1, zeta: 4}
    - {kind: g9, elements: [Ge, Si], eta: 0.1, rs: 2.5, lambda: 1, zeta: 1}
    - {kind: g9, elements: [Si, Si], eta: 0.0, lambda: 1, zeta: 16, cutoff: 4.2}
tasks:
  - {name: energy, property: energy, datasets: [sige], loss: per_atom_mse, normalizer: rmsd,
     element_references: fit, metrics: [mae]}
  - {name: forces, property: forces, datasets: [sige], loss: mse, metrics: [mae]}
optim: {lr: 0.01}
schedule: {epochs: 2}
train: {print_every: 1000}
CFG
mlip-train -q -c "$TMPD/sige.yaml" -o "$TMPD/sige" > /dev/null || die "two-element training failed"
expect_status 0 mlip-ckpt-convert -q --n2p2 "$TMPD/nnp-sige" --data "$TMPD/sige.mlb" "$TMPD/sige/inference_ckpt.mlip"
grep -qx "elements Si Ge" "$TMPD/nnp-sige/input.nn" || die "elements not in n2p2's order"
grep -q "^symfunction_short Ge 3 Si Ge " "$TMPD/nnp-sige/input.nn" || die "no G3 function"
grep -qx "global_activation_short p l" "$TMPD/nnp-sige/input.nn" || die "softplus"
[ -s "$TMPD/nnp-sige/weights.032.data" ] || die "no weights.032.data"
mlip-eval -p "$TMPD/pred-sige.xyz" "$TMPD/sige/inference_ckpt.mlip" "$TMPD/sige.mlb" > /dev/null || die "mlip-eval failed"
keep=7,8
awk -v keep=",$keep," 'BEGIN { i = -1 } /^begin/ { i++ } index(keep, "," i ",")' "$TMPD/sige.data" > "$TMPD/sub-sige.data"
$PY "$N2P2/nnp_eval.py" "$TMPD/nnp-sige" "$TMPD/sub-sige.data" > "$TMPD/eval-sige.jsonl" || die "nnp_eval failed"
$PY "$N2P2/compare.py" "$TMPD/eval-sige.jsonl" "$TMPD/pred-sige.xyz" "$keep" 1e-10 1e-10 || die "n2p2 and mlip differ (G3)"

# refusals: SiLU, a per-structure energy shift; a head that does not exist
sed 's/activation: softplus/activation: silu/; s/epochs: 2/epochs: 1/' "$TMPD/sige.yaml" > "$TMPD/silu.yaml"
mlip-train -q -c "$TMPD/silu.yaml" -o "$TMPD/silu" > /dev/null || die "silu training failed"
expect_status 3 mlip-ckpt-convert --n2p2 "$TMPD/x" "$TMPD/silu/inference_ckpt.mlip"
expect_err "n2p2 has no 'silu' activation"
[ -e "$TMPD/x" ] && die "a refused export left a directory"
sed 's/normalizer: rmsd/normalizer: {name: rmsd, mean: 0.5}/; s/epochs: 2/epochs: 1/' "$TMPD/sige.yaml" > "$TMPD/shift.yaml"
mlip-train -q -c "$TMPD/shift.yaml" -o "$TMPD/shift" > /dev/null || die "shift training failed"
expect_status 3 mlip-ckpt-convert --n2p2 "$TMPD/x" "$TMPD/shift/inference_ckpt.mlip"
expect_err "head 'energy' adds 0.5 eV to every structure's energy"
expect_status 2 mlip-ckpt-convert --n2p2 "$TMPD/x" --head forces "$model"
expect_err "the model has no head 'forces' (it has 'energy')"
expect_status 2 mlip-ckpt-convert --head energy "$TMPD/si/run/checkpoints/final" "$TMPD/x.mlip"
expect_status 2 mlip-ckpt-convert --n2p2 "$TMPD/x" "$model" "$model"
expect_status 4 mlip-ckpt-convert --n2p2 "$TMPD/x" "$TMPD/missing.mlip"
# range data collated at a smaller cutoff than the model's
mlip-collate -q -c 3.0 -d si -o "$TMPD/short.mlb" "$TMPD/test.data" || die "collate failed"
expect_status 3 mlip-ckpt-convert --n2p2 "$TMPD/x" --data "$TMPD/short.mlb" "$model"
expect_err "short.mlb: "

# input.data errors name file and line; partial periodicity cannot be written
printf 'begin\natom 0 0 0 Si 0 0 0 0 0\nlattice 5 0 0\nend\n' > "$TMPD/bad.data"
expect_status 3 mlip-collate -c 5.0 -o "$TMPD/bad.mlb" "$TMPD/bad.data"
expect_err "bad.data:4: structure has 1 lattice line"
printf '1\nLattice="5 0 0 0 5 0 0 0 9" pbc="T T F"\nSi 0 0 0\n' > "$TMPD/slab.xyz"
mlip-collate -q -c 2.0 -o "$TMPD/slab.mlb" "$TMPD/slab.xyz" || die "collate slab failed"
expect_status 3 mlip-collate --dump --dump-format n2p2 "$TMPD/slab.mlb"
expect_err "periodic along 2 axes (pbc T T F)"
expect_status 2 mlip-collate --dump --dump-format nope "$TMPD/slab.mlb"
