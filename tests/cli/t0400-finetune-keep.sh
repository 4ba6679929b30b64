# mlip-finetune-init, keeping every head: a fine-tuning run's step-0
# validation equals the base model's with raw weights; the raw weights are
# taken, not the EMA; a training checkpoint directory works as MODEL; a
# resumed fine-tuning run does not need the starting model.
. tests/cli/lib.sh

# same_val FILE1 first|last FILE2 first|last: the val records agree key by key (1e-12 relative)
same_val() {
	$PY - "$@" <<'PY' || die "validation records differ: $*"
import json, sys
def rec(path, which):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    rows = [r for r in rows if r["type"] == "val"]
    return rows[0] if which == "first" else rows[-1]
a, b = rec(sys.argv[1], sys.argv[2]), rec(sys.argv[3], sys.argv[4])
ka = sorted(k for k in a if k.startswith("val/"))
kb = sorted(k for k in b if k.startswith("val/"))
if ka != kb or len(ka) < 5:
    sys.exit("keys differ: %s / %s" % (ka, kb))
for k in ka:
    x, y = a[k], b[k]
    if abs(x - y) > 1e-12 * max(1.0, abs(x), abs(y)):
        sys.exit("%s: %r vs %r" % (k, x, y))
PY
}

si_streams "$TMPD"
si_config "$TMPD/base.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
# without EMA the last val record is computed with the raw weights of the last step
mlip-train -q -c "$TMPD/base.yaml" -o "$TMPD/base" --set train.ema_decay=none > "$TMPD/base.jsonl" \
	|| die "base training failed"
base="$TMPD/base/inference_ckpt.mlip"

expect_status 0 mlip-finetune-init "$base" -o "$TMPD/start.mlip"
expect_err "8 copied, 0 mapped"
[ -s "$TMPD/out" ] && die "mlip-finetune-init wrote to stdout"

# the fine-tuning config: tasks without normalizer / element references (inherited)
ft_config() {
	cat > "$1" <<CFG
seed: 3
data: {train: [$TMPD/train.mlb], val: [$TMPD/val.mlb]}
model: {init_from: $2}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse, metrics: [mae, per_atom_mae, rmse]}
  - {name: forces, property: forces, datasets: [si], loss: {name: mse, coefficient: 10},
     metrics: [mae, rmse, cosine_similarity]}
  - {name: stress, property: stress, datasets: [si], loss: {name: mse, coefficient: 1}, metrics: [mae]}
optim: {lr: 0.002}
schedule: {epochs: 2}
train: {eval_at_start: true, ema_decay: none, print_every: 0}
CFG
}
ft_config "$TMPD/ft.yaml" "$TMPD/start.mlip"
mlip-train -q -c "$TMPD/ft.yaml" -o "$TMPD/ft" > "$TMPD/ft.jsonl" || die "fine-tuning failed"
expect_eq "$($PY -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"val\"" in l][0]["step"])' "$TMPD/ft.jsonl")" 0 "first val step"
same_val "$TMPD/ft.jsonl" first "$TMPD/base.jsonl" last
# ... and training moved on from there
$PY - "$TMPD/ft.jsonl" <<'PY' || die "fine-tuning did not change the metrics"
import json, sys
v = [json.loads(l) for l in open(sys.argv[1]) if '"val"' in l]
sys.exit(v[0]["val/si,forces,mae"] == v[-1]["val/si,forces,mae"])
PY

# a training checkpoint directory as MODEL: the same starting model
expect_status 0 mlip-finetune-init -q "$TMPD/base/checkpoints/final" -o "$TMPD/start2.mlip"
[ -s "$TMPD/err" ] && die "-q was not quiet"
cmp -s "$TMPD/start.mlip" "$TMPD/start2.mlip" || die "checkpoint directory and model file differ"

# raw weights, not EMA: a base with EMA primary gives what its --raw conversion gives
mlip-train -q -c "$TMPD/base.yaml" -o "$TMPD/ema" --set schedule.epochs=2 > /dev/null || die "EMA base failed"
mlip-ckpt-convert -q --raw "$TMPD/ema/checkpoints/final" "$TMPD/ema-raw.mlip" || die "convert failed"
cmp -s "$TMPD/ema/inference_ckpt.mlip" "$TMPD/ema-raw.mlip" && die "EMA and raw models are the same"
expect_status 0 mlip-finetune-init -q "$TMPD/ema/inference_ckpt.mlip" -o "$TMPD/s-ema.mlip"
expect_status 0 mlip-finetune-init -q "$TMPD/ema-raw.mlip" -o "$TMPD/s-raw.mlip"
cmp -s "$TMPD/s-ema.mlip" "$TMPD/s-raw.mlip" || die "the EMA model did not start from its raw weights"

# resume without the starting model
cp "$TMPD/start.mlip" "$TMPD/gone.mlip"
ft_config "$TMPD/ftr.yaml" "$TMPD/gone.mlip"
mlip-train -q -c "$TMPD/ftr.yaml" -o "$TMPD/ftr" --set train.checkpoint_every=5 > "$TMPD/r1.jsonl" \
	|| die "fine-tuning with checkpoints failed"
[ -d "$TMPD/ftr/checkpoints/step_5" ] || die "no checkpoint step_5"
rm "$TMPD/gone.mlip"
expect_status 0 mlip-train -q --resume "$TMPD/ftr/checkpoints/step_5" -o "$TMPD/ftr2"
cp "$TMPD/out" "$TMPD/r2.jsonl"
same_val "$TMPD/r2.jsonl" last "$TMPD/r1.jsonl" last
