# mlip-finetune-init with a new element: --pin-descriptors keeps silicon's
# inputs, appended lithium functions become zero-weight inputs, the scaling
# of the new inputs is fitted on --scaling-data, and a fine-tuning run on
# silicon and lithium starts with the base's silicon metrics exactly.
. tests/cli/lib.sh

si_streams "$TMPD"
mlip-collate -q -c 4.5 -d li -b 4 --split 0.5 --seed 2 -o "$TMPD/li.mlb" -o "$TMPD/li-val.mlb" \
	"$MLIP_TOP/share/demo/li-test.json" || die "collate Li failed"
si_config "$TMPD/base.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
mlip-train -q -c "$TMPD/base.yaml" -o "$TMPD/base" --set train.ema_decay=none > "$TMPD/base.jsonl" \
	|| die "base training failed"
base="$TMPD/base/inference_ckpt.mlip"

printf 'heads:\n  - {name: energy}\n  - {name: li, copy_from: energy}\n' > "$TMPD/heads.yaml"
set -- --heads "$TMPD/heads.yaml" --pin-descriptors --set 'model.elements=[Si, Li]'
for k in 1 2 3 4 5 6 7 8; do
	set -- "$@" --set "model.descriptors.$((31 + k))={kind: g2, elements: [Li], eta: 2, rs: $k.0}"
done
# without scaling data the new inputs keep the identity scaling
expect_status 0 mlip-finetune-init "$base" -o "$TMPD/noscale.mlip" "$@"
expect_err "element Si: descriptor set of 40 functions, 32 of them from the model"
expect_err "element Li: new"
expect_status 0 mlip-finetune-init "$base" -o "$TMPD/start.mlip" "$@" --scaling-data "$TMPD/li.mlb"
expect_err "descriptor scaling fitted for 48 new inputs on"
cmp -s "$TMPD/noscale.mlip" "$TMPD/start.mlip" && die "--scaling-data changed nothing"
# batches with an element the model lacks are bad scaling data
expect_status 3 mlip-finetune-init "$base" -o "$TMPD/x.mlip" --scaling-data "$TMPD/li.mlb"
expect_status 4 mlip-finetune-init "$base" -o "$TMPD/x.mlip" "$@" --scaling-data "$TMPD/none.mlb"

cat > "$TMPD/ft.yaml" <<CFG
seed: 3
data: {train: [$TMPD/train.mlb, $TMPD/li.mlb], val: [$TMPD/val.mlb, $TMPD/li-val.mlb]}
model: {init_from: $TMPD/start.mlip}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse, metrics: [mae, per_atom_mae, rmse]}
  - {name: forces, property: forces, datasets: [si], loss: {name: mse, coefficient: 10},
     metrics: [mae, rmse, cosine_similarity]}
  - {name: stress, property: stress, datasets: [si], loss: {name: mse, coefficient: 1}, metrics: [mae]}
  - {name: li_energy, head: li, property: energy, datasets: [li], loss: per_atom_mse,
     normalizer: rmsd, element_references: fit, metrics: [per_atom_mae]}
  - {name: li_forces, head: li, property: forces, datasets: [li], loss: {name: mse, coefficient: 10},
     metrics: [mae]}
optim: {lr: 0.005}
schedule: {epochs: 4, warmup_steps: 2}
train: {eval_at_start: true, ema_decay: none, print_every: 0}
CFG
mlip-train -q -c "$TMPD/ft.yaml" -o "$TMPD/ft" > "$TMPD/ft.jsonl" 2> "$TMPD/ft.err" || die "fine-tuning failed"
$PY - "$TMPD/ft.jsonl" "$TMPD/base.jsonl" <<'PY' || die "wrong fine-tuning start"
import json, sys
def vals(p): return [json.loads(l) for l in open(p) if '"val"' in l]
ft, b = vals(sys.argv[1]), vals(sys.argv[2])[-1]
a = ft[0]
assert a["step"] == 0
keys = [k for k in b if k.startswith("val/si,") and b[k] is not None]
assert len(keys) == 7, keys
for k in keys:   # silicon predictions unchanged by the new element and inputs
    assert abs(a[k] - b[k]) <= 1e-12 * max(1.0, abs(b[k])), (k, a[k], b[k])
first, last = ft[0]["val/li,li_forces,mae"], ft[-1]["val/li,li_forces,mae"]
assert last < 0.8 * first, (first, last)
PY
exit 0

# a base with angular shells: --pin-descriptors lists them explicitly (the shells are not
# added a second time) and silicon's predictions are unchanged with lithium added
mlip-train -q -c "$TMPD/base.yaml" -o "$TMPD/shells" --set schedule.epochs=1 --set model.angular_shells=1 \
	> /dev/null || die "training with angular shells failed"
expect_status 0 mlip-finetune-init "$TMPD/shells/inference_ckpt.mlip" -o "$TMPD/shells-li.mlip" \
	--pin-descriptors --set 'model.elements=[Si, Li]'
expect_status 0 mlip-eval -q "$TMPD/shells/inference_ckpt.mlip" "$TMPD/val.mlb"
a=$($PY -c 'import json, sys; print(repr(json.load(open(sys.argv[1]))["si,energy,mae"]))' "$TMPD/out")
expect_status 0 mlip-eval -q "$TMPD/shells-li.mlip" "$TMPD/val.mlb"
b=$($PY -c 'import json, sys; print(repr(json.load(open(sys.argv[1]))["si,energy,mae"]))' "$TMPD/out")
expect_eq "$b" "$a" "silicon energy MAE after adding lithium to a model with shells"
