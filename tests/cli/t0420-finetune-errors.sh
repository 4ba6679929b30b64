# mlip-finetune-init: strict refusals and their --no-strict reports,
# overrides, and the exit status of every kind of failure.
. tests/cli/lib.sh

si_streams "$TMPD"
si_config "$TMPD/base.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
mlip-train -q -c "$TMPD/base.yaml" -o "$TMPD/base" --set schedule.epochs=1 > /dev/null || die "base training failed"
base="$TMPD/base/inference_ckpt.mlip"
out="$TMPD/x.mlip"

# a hidden width override: strict names the tensor and both shapes
expect_status 2 mlip-finetune-init "$base" -o "$out" --set 'model.hidden=[16, 12]'
expect_err "mlip-finetune-init: error: tensor 'Si.w1': shape (12, 32) in the model, (16, 32) in the new one"
expect_err "--no-strict"
[ -e "$out" ] && die "output written on a refusal"
expect_status 0 mlip-finetune-init "$base" -o "$out" --set 'model.hidden=[16, 12]' --no-strict
expect_err "warning: tensor 'Si.w1': shape (12, 32) in the model, (16, 32) in the new one: freshly initialised"
expect_err "warning: tensor 'Si.w2': shape (12, 12) in the model, (12, 16) in the new one: freshly initialised"
expect_err "5 copied, 0 mapped (heads or inputs), 3 freshly initialised"
# ... and the result trains from model.init_from
cat > "$TMPD/ft.yaml" <<CFG
data: {train: [$TMPD/train.mlb]}
model: {init_from: $out}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse}
  - {name: forces, property: forces, datasets: [si], loss: mse}
optim: {lr: 0.001}
schedule: {steps: 2}
CFG
mlip-train -q -c "$TMPD/ft.yaml" -o "$TMPD/ft" > /dev/null || die "training the wider model failed"
grep -q "hidden: \[16, 12\]" "$TMPD/ft/config.yaml" || die "the run's config lacks the new widths"
# a layer more
expect_status 2 mlip-finetune-init "$base" -o "$out" --set 'model.hidden=[12, 12, 12]'
expect_err "tensor 'Si.w3' (12, 12) is not in the model"

# overrides: unknown keys and bad values are refused; --no-strict skips them
expect_status 2 mlip-finetune-init "$base" -o "$out" --set 'model.hiden=[16]'
expect_err "--set model.hiden=[16]: unknown key 'model.hiden'"
expect_status 2 mlip-finetune-init "$base" -o "$out" --set 'model.cutoff=-1'
expect_err "model.cutoff"
expect_status 2 mlip-finetune-init "$base" -o "$out" --set 'model.init_from=a.mlip'
expect_status 0 mlip-finetune-init "$base" -o "$out" --no-strict --set 'model.hiden=[16]' \
	--set model.activation=silu
expect_err "warning: skipped --set model.hiden=[16]: unknown key 'model.hiden'"
expect_status 0 mlip-finetune-init -q "$out" -o "$TMPD/y.mlip"   # a fine-tuning start is a model too
$PY - "$out" <<'PY' || die "the override did not reach the stored config"
import sys
t = open(sys.argv[1], "rb").read()
assert b"activation: silu" in t
PY

rm -f "$out"
# a new element under the default descriptor set
expect_status 2 mlip-finetune-init "$base" -o "$out" --set 'model.elements=[Si, Li]'
expect_err "element Si: 8 of its 32 descriptor functions in the model are not in the new set"
expect_err "--pin-descriptors"

# the model itself
expect_status 4 mlip-finetune-init "$TMPD/nope.mlip" -o "$out"
expect_err "cannot open"
expect_status 3 mlip-finetune-init "$TMPD/train.mlb" -o "$out"
expect_err "not an mlip checkpoint"
head -c 2000 "$base" > "$TMPD/short.mlip"
expect_status 3 mlip-finetune-init "$TMPD/short.mlip" -o "$out"
expect_err "truncated"
$PY -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-9] ^= 4; open(sys.argv[2], "wb").write(b)' "$base" "$TMPD/flip.mlip"
expect_status 3 mlip-finetune-init "$TMPD/flip.mlip" -o "$out"
expect_err "checksum mismatch"
cp -r "$TMPD/base/checkpoints/final" "$TMPD/ck"; rm "$TMPD/ck/DONE"
expect_status 3 mlip-finetune-init "$TMPD/ck" -o "$out"
expect_err "incomplete checkpoint"
[ -e "$out" ] && die "output written for a bad model"
expect_status 4 mlip-finetune-init "$base" -o "$TMPD/no/such/dir/x.mlip"

# plugins
expect_status 5 mlip-finetune-init "$base" -o "$out" --set tasks.1.loss.name=nosuchloss
expect_err "nosuchloss"

# usage
expect_status 2 mlip-finetune-init "$base"
expect_err "missing -o OUT"
expect_err "try 'mlip-finetune-init --help'"
expect_status 2 mlip-finetune-init -o "$out"
expect_err "expected MODEL"
expect_status 2 mlip-finetune-init "$base" "$base" -o "$out"
expect_err "unexpected argument"
expect_status 2 mlip-finetune-init "$base" -o "$out" --set model.hidden
expect_err "--set takes KEY=VALUE"
[ -e "$out" ] && die "output written on a usage error"
exit 0
