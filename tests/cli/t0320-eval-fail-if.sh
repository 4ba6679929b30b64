# --fail-if: the results are written first; a crossed threshold exits 1 and
# says which key, its value and the threshold; the comparison uses the
# printed value exactly; an unknown key exits 2 listing the keys; a null
# metric does not cross but warns.
. tests/cli/lib.sh
D="$TMPD"
si=share/demo/si-train.json
mlip-collate -q -c 5.0 -d si --split 0.9 --seed 1 -o "$D/train.mlb" -o "$D/val.mlb" "$si" || die "collate"
cat > "$D/cfg.yaml" <<CFG
seed: 1
data: {train: $D/train.mlb}
model: {cutoff: 5.0, elements: [Si], hidden: [8]}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: mse, normalizer: rmsd, element_references: fit, metrics: [mae]}
  - {name: forces, property: forces, datasets: [si], loss: mse, metrics: [mae, rmse]}
optim: {lr: 0.005}
schedule: {epochs: 1}
CFG
mlip-train -q -c "$D/cfg.yaml" -o "$D/run" > /dev/null || die "training failed"
M="$D/run/inference_ckpt.mlip"
mlip-eval "$M" "$D/val.mlb" > "$D/ref.json" || die "eval"
get() { $PY -c 'import json, sys; print(repr(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$D/ref.json" "$1"; }
fmae=$(get si,forces,mae)
loss=$(get loss)

# a threshold that holds, one that is crossed
expect_status 0 mlip-eval --fail-if "si,forces,mae>$fmae" --fail-if 'loss>1e9' "$M" "$D/val.mlb"
expect_out '"si,forces,mae":'
expect_status 1 mlip-eval --fail-if 'si,forces,mae>0.001' "$M" "$D/val.mlb"
expect_out '"si,forces,mae":'
[ "$(wc -l < "$TMPD/out")" -eq 1 ] || die "results not printed once"
expect_err "si,forces,mae is "
expect_err "above the threshold 0.001"
expect_err "--fail-if 'si,forces,mae>0.001'"
value=$(sed -n 's/.*si,forces,mae is \([^,]*\),.*/\1/p' "$TMPD/err")
$PY -c 'import sys; assert float(sys.argv[1]) == float(sys.argv[2]), sys.argv' "$value" "$fmae" \
	|| die "the message's value $value is not the result $fmae"

# the four operators at the printed value itself, blanks allowed
expect_status 1 mlip-eval --fail-if "loss>=$loss" "$M" "$D/val.mlb"
expect_err "at or above"
expect_status 0 mlip-eval --fail-if "loss>$loss" "$M" "$D/val.mlb"
expect_status 1 mlip-eval --fail-if " loss <= $loss " "$M" "$D/val.mlb"
expect_err "at or below"
expect_status 0 mlip-eval --fail-if "loss<$loss" "$M" "$D/val.mlb"
expect_status 1 mlip-eval --fail-if 'structures<8' "$M" "$D/val.mlb"
expect_err "structures is 7, below the threshold 8"
expect_status 0 mlip-eval --fail-if 'structures<7' "$M" "$D/val.mlb"

# every crossed condition is reported, once
expect_status 1 mlip-eval --fail-if 'si,forces,mae>0.001' --fail-if 'loss<1e9' --fail-if 'atoms<1' "$M" "$D/val.mlb"
[ "$(grep -c 'threshold' "$TMPD/err")" -eq 2 ] || die "expected two crossings on stderr: $(cat "$TMPD/err")"
expect_err "loss is "

# an unknown key: status 2 with the available keys; it wins over a crossing
expect_status 2 mlip-eval --fail-if 'si,force,mae>1' "$M" "$D/val.mlb"
expect_err "no key 'si,force,mae'"
expect_err "si,forces,mae, si,forces,rmse"
expect_err "loss"
expect_status 2 mlip-eval --fail-if 'loss>0' --fail-if 'nope>1' "$M" "$D/val.mlb"
expect_status 2 mlip-eval --fail-if 'timestamp>1' "$M" "$D/val.mlb"
expect_err "not a number"

# a null metric (a dataset without labels for the task) does not cross, with a warning
expect_status 0 mlip-eval -d si -d other --fail-if 'other,forces,mae>0' "$M" "$D/val.mlb"
expect_out '"other,forces,mae":null'
expect_err "warning: --fail-if 'other,forces,mae>0': 'other,forces,mae' is null"

# with --jsonl the history gets its line before the exit status
expect_status 1 mlip-eval --jsonl "$D/h.jsonl" --fail-if 'si,energy,mae>0' "$M" "$D/val.mlb"
[ "$(wc -l < "$D/h.jsonl")" -eq 1 ] || die "no history line on a crossed threshold"
exit 0
