# model.precision: float32 is a run-time option: training in float32 ends
# within a few percent of float64 (not identically), the model evaluates in
# float32 (mlip-eval says so, and gives other numbers than the same weights
# in float64), mlip-ckpt-convert and mlip-finetune-init keep the precision
# unless told otherwise, and resume is bit for bit in float32 too.
. tests/cli/lib.sh

# close A B TOL: every metric ("dataset,task,metric" keys) of mlip-eval result A within
# TOL (relative) of B's, and not all identical
close() {
	$PY - "$@" <<'PY' || die "metrics not close: $*"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
tol = float(sys.argv[3])
keys = sorted(k for k in b if k.count(",") == 2)
if len(keys) < 5 or keys != sorted(k for k in a if k.count(",") == 2):
    sys.exit("keys: %s / %s" % (sorted(a), keys))
for k in keys:
    if abs(a[k] - b[k]) > tol * abs(b[k]):
        sys.exit("%s: %r vs %r (tolerance %g)" % (k, a[k], b[k], tol))
if all(a[k] == b[k] for k in keys):
    sys.exit("identical: the two precisions computed the same numbers")
PY
}
# same FILE1 FILE2: identical metrics (and precision)
same() {
	$PY - "$@" <<'PY' || die "metrics differ: $*"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):
    for k in ("atoms_per_s", "model", "model_crc32", "timestamp"):
        d.pop(k)
if a != b:
    sys.exit("%s\n%s" % (a, b))
PY
}
# precision FILE: the precision an mlip-eval JSON object reports
precision() { $PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["precision"])' "$1"; }

si_streams "$TMPD"
si_config "$TMPD/cfg.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
set_common="--set train.checkpoint_every=5 --set train.max_saved_checkpoints=50"
mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/r64" $set_common > /dev/null || die "float64 run failed"
mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/r32" $set_common --set model.precision=float32 \
	> "$TMPD/r32.jsonl" || die "float32 run failed"
grep -q "precision: float32" "$TMPD/r32/config.yaml" || die "the run's config lost the precision"

# the same training in both precisions ends at the same accuracy (a few percent)
mlip-eval -q "$TMPD/r64/inference_ckpt.mlip" "$TMPD/val.mlb" > "$TMPD/e64.json" || die "eval 64 failed"
mlip-eval -q "$TMPD/r32/inference_ckpt.mlip" "$TMPD/val.mlb" > "$TMPD/e32.json" || die "eval 32 failed"
expect_eq "$(precision "$TMPD/e64.json")" float64 "precision of the float64 model"
expect_eq "$(precision "$TMPD/e32.json")" float32 "precision of the float32 model"
close "$TMPD/e32.json" "$TMPD/e64.json" 0.03
# the validation during training agrees with mlip-eval (same precision, same weights)
$PY - "$TMPD/r32.jsonl" "$TMPD/e32.json" <<'PY' || die "last val record differs from mlip-eval"
import json, sys
v = [json.loads(l) for l in open(sys.argv[1]) if '"val"' in l][-1]
e = json.load(open(sys.argv[2]))
for k in ("si,energy,mae", "si,forces,rmse", "si,stress,mae"):
    if abs(v["val/" + k] - e[k]) > 1e-12 * abs(e[k]):
        sys.exit("%s: %r vs %r" % (k, v["val/" + k], e[k]))
PY

# mlip-ckpt-convert: the same float32 model as the run's
expect_status 0 mlip-ckpt-convert -q "$TMPD/r32/checkpoints/final" "$TMPD/conv.mlip"
cmp -s "$TMPD/conv.mlip" "$TMPD/r32/inference_ckpt.mlip" || die "convert differs from the run's model"
mlip-eval -q "$TMPD/conv.mlip" "$TMPD/val.mlb" > "$TMPD/ec.json" || die "eval of the conversion failed"
same "$TMPD/ec.json" "$TMPD/e32.json"

# mlip-finetune-init keeps float32; --set model.precision=float64 runs the same
# weights in float64, which gives other (close) numbers: mlip-eval really ran float32
expect_status 0 mlip-finetune-init -q "$TMPD/r32/inference_ckpt.mlip" -o "$TMPD/keep.mlip"
expect_status 0 mlip-finetune-init -q "$TMPD/r32/inference_ckpt.mlip" -o "$TMPD/as64.mlip" \
	--set model.precision=float64
mlip-eval -q "$TMPD/keep.mlip" "$TMPD/val.mlb" > "$TMPD/ek.json" || die "eval keep failed"
mlip-eval -q "$TMPD/as64.mlip" "$TMPD/val.mlb" > "$TMPD/ea.json" || die "eval as64 failed"
mlip-eval -q --weights raw "$TMPD/r32/inference_ckpt.mlip" "$TMPD/val.mlb" > "$TMPD/er.json" \
	|| die "eval raw failed"
expect_eq "$(precision "$TMPD/ek.json")" float32 "finetune-init without override"
expect_eq "$(precision "$TMPD/ea.json")" float64 "finetune-init --set model.precision=float64"
same "$TMPD/ek.json" "$TMPD/er.json"
close "$TMPD/er.json" "$TMPD/ea.json" 1e-5

# resume in float32, bit for bit: from a checkpoint of the finished run
mkdir -p "$TMPD/res/checkpoints"
cp -r "$TMPD/r32/checkpoints/step_10" "$TMPD/res/checkpoints/"
expect_status 0 mlip-train -q --resume "$TMPD/res/checkpoints/step_10"
cmp "$TMPD/r32/checkpoints/final/state.0.mlip" "$TMPD/res/checkpoints/final/state.0.mlip" \
	|| die "float32 resume from step 10 differs"
cmp "$TMPD/r32/inference_ckpt.mlip" "$TMPD/res/inference_ckpt.mlip" || die "float32 final model differs"
# a checkpoint is resumed in its own precision: asking for another one is refused
expect_status 2 mlip-train -q --resume "$TMPD/r32/checkpoints/step_10" -c "$TMPD/cfg.yaml" \
	-o "$TMPD/x" $set_common
expect_err "disagrees with checkpoint"
