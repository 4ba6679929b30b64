# model.descriptor {type: mtp}: the moment tensor basis trains under the same
# unit (AdamW, EMA, L-BFGS, checkpoints), resumes bit for bit, converts to the
# same model, evaluates, predicts through libmlip as mlip-eval does, and is
# refused where it does not fit (with symmetry functions; n2p2 export).
. tests/cli/lib.sh
D="$TMPD"
si_streams "$D"
si_config "$D/cfg.yaml" "$D/train.mlb" "$D/val.mlb"
mtp='model.descriptor={type: mtp, level: 12, r_min: 1.5}'
expect_status 0 mlip-train -q -c "$D/cfg.yaml" -o "$D/run" --set "$mtp" --set 'optim.lbfgs={steps: 4}' \
	--set train.checkpoint_every=10 --set train.max_saved_checkpoints=10
cp "$TMPD/out" "$D/m.jsonl"
grep -q "type: mtp" "$D/run/config.yaml" || die "the resolved config lost the basis"
jq -e 'select(.type == "end") | .loss < 1e3' "$D/m.jsonl" > /dev/null || die "no end record"
first=$(jq -s '[.[] | select(.type == "val")][0]."val/loss"' "$D/m.jsonl")
last=$(jq -s '[.[] | select(.type == "val")][-1]."val/loss"' "$D/m.jsonl")
$PY -c "import sys; sys.exit(0 if $last < 0.5 * $first else 1)" || die "validation loss $first -> $last"
# resume from inside the run: the same final state, bit for bit
expect_status 0 mlip-train -q --resume "$D/run/checkpoints/step_10" -o "$D/res" > /dev/null
mkdir -p "$D/res/checkpoints" && cp -r "$D/run/checkpoints/step_10" "$D/res/checkpoints/"
expect_status 0 mlip-train -q --resume "$D/res/checkpoints/step_10"
cmp -s "$D/run/checkpoints/final/state.0.mlip" "$D/res/checkpoints/final/state.0.mlip" ||
	die "resumed MTP run differs"
# conversion and evaluation
M="$D/run/inference_ckpt.mlip"
model_paths_agree "$D/run" "$D/val.mlb"
# refusals
expect_status 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/bad" --set "$mtp" --set model.angular_shells=2
expect_err "type mtp replaces the symmetry functions"
expect_status 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/bad" --set 'model.descriptor={type: mtp, level: 13}'
expect_err "model.descriptor.level"
expect_status 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/bad" --set 'model.descriptor={type: ace, level: 12}'
expect_err "model.descriptor.type"
expect_status 3 mlip-ckpt-convert --n2p2 "$D/nnp" "$M"
expect_err "moment tensor basis, which n2p2 has no type for"
