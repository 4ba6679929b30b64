# The metrics stream ends where the run ended: after an L-BFGS phase the last
# train record is the last L-BFGS iteration (not the AdamW losses again), the
# epoch stops at the schedule's end, and an "end" record closes the stream with
# the final losses, the last validation metrics and the model's path.
. tests/cli/lib.sh
D="$TMPD"
si_streams "$D"
si_config "$D/cfg.yaml" "$D/train.mlb" "$D/val.mlb"
# 4 epochs of 5 batches = 20 steps; print_every 3 leaves 2 steps unprinted at the schedule's end
expect_status 0 mlip-train -q -c "$D/cfg.yaml" -o "$D/run" --set train.print_every=3 \
	--set 'optim.lbfgs={steps: 3}'
cp "$TMPD/out" "$D/m.jsonl"
$PY - "$D/m.jsonl" "$D/run/inference_ckpt.mlip" <<'PYEOF' || die "records are wrong"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
train = [r for r in rows if r["type"] == "train"]
adam = [r for r in train if r.get("optimizer") != "lbfgs"]
lbfgs = [r for r in train if r.get("optimizer") == "lbfgs"]
assert adam[-1]["step"] == 20, "the last AdamW losses were not written at the schedule's end: %r" % adam[-1]
assert len(lbfgs) >= 1 and train[-1] is lbfgs[-1], "the last train record is not L-BFGS's"
assert max(r["epoch"] for r in rows if "epoch" in r) == 4, "epoch grew past the schedule"
end = rows[-1]
assert end["type"] == "end", "no end record last: %r" % end
assert end["step"] == lbfgs[-1]["step"] and end["optimizer"] == "lbfgs"
assert end["loss"] == lbfgs[-1]["loss"], (end["loss"], lbfgs[-1]["loss"])
val = [r for r in rows if r["type"] == "val"][-1]
for k, v in val.items():
    if k.startswith("val/"):
        assert end[k] == v, k
assert end["model"] == sys.argv[2] and end["wall_s"] > 0
assert sum(r["type"] == "end" for r in rows) == 1
print("ok: %d records, end at step %d" % (len(rows), end["step"]))
PYEOF
# without L-BFGS the end record follows the last AdamW losses
expect_status 0 mlip-train -q -c "$D/cfg.yaml" -o "$D/run2" --set train.print_every=3
$PY - "$TMPD/out" <<'PYEOF' || die "records without L-BFGS are wrong"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
end = rows[-1]
train = [r for r in rows if r["type"] == "train"]
assert end["type"] == "end" and end["optimizer"] == "adamw" and end["step"] == 20
assert train[-1]["step"] == 20 and end["loss"] == train[-1]["loss"]
PYEOF
