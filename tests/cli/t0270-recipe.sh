# The recipes share/configs/bpnn.yaml and mtp.yaml adapt to other data with --set
# only, as README and mlip-config(5) say: here lithium (the recipe names
# silicon), shortened to a few steps of each phase.
. tests/cli/lib.sh
li="$MLIP_TOP/share/demo/li-test.json"
mlip-collate -q -c 5.5 -d li -b 2 --split 0.8 --seed 1 -o "$TMPD/train.mlb" -o "$TMPD/val.mlb" "$li" \
	|| die "collate failed"
expect_status 0 mlip-train -c share/configs/bpnn.yaml -o "$TMPD/run" --set 'model.elements=[Li]' \
	--set "data.train=[$TMPD/train.mlb]" --set "data.val=[$TMPD/val.mlb]" \
	--set 'tasks.0.datasets=[li]' --set 'tasks.1.datasets=[li]' --set 'tasks.2.datasets=[li]' \
	--set schedule.epochs=2 --set optim.lbfgs.steps=5
cp "$TMPD/out" "$TMPD/run.jsonl"
expect_err "then 5 l-bfgs steps on the whole set"
$PY - "$TMPD/run.jsonl" "$TMPD/run/inference_ckpt.mlip" <<'PYEOF' || exit 1
import json, struct, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
lb = [r for r in rows if r["type"] == "train" and r.get("optimizer") == "lbfgs"]
val = [r for r in rows if r["type"] == "val"]
assert len(lb) == 1 and len(val) == 3, (len(lb), len(val))   # print_every 0: the last L-BFGS line
assert val[-1]["step"] == lb[-1]["step"]
assert val[-1]["val/li,forces,mae"] < val[0]["val/li,forces,mae"], (val[0], val[-1])
raw = open(sys.argv[2], "rb").read()
hdr = json.loads(raw[64:64 + struct.unpack_from("<Q", raw, 16)[0]])
assert len(hdr["descriptors"]) == 50, len(hdr["descriptors"])   # 32 default + 3 shells x 6
PYEOF
expect_status 0 mlip-eval -q "$TMPD/run/inference_ckpt.mlip" "$TMPD/val.mlb"
expect_out '"li,energy,per_atom_mae"'

# The second recipe, share/configs/mtp.yaml, adapts the same way (and with
# two elements: the basis does not depend on them, the radial coefficients
# of every ordered pair are trained).
expect_status 0 mlip-train -c share/configs/mtp.yaml -o "$TMPD/mtp" --set 'model.elements=[Li]' \
	--set "data.train=[$TMPD/train.mlb]" --set "data.val=[$TMPD/val.mlb]" \
	--set 'tasks.0.datasets=[li]' --set 'tasks.1.datasets=[li]' --set 'tasks.2.datasets=[li]' \
	--set schedule.epochs=2 --set optim.lbfgs.steps=5
$PY - "$TMPD/out" <<'PYEOF' || exit 1
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
val = [r for r in rows if r["type"] == "val"]
assert val[-1]["val/li,forces,mae"] < val[0]["val/li,forces,mae"], (val[0], val[-1])
PYEOF
mlip-collate -q -c 5.5 -d si -b 2 -o "$TMPD/si.mlb" "$MLIP_TOP/share/demo/si-test.json" || die "collate Si"
expect_status 0 mlip-train -c share/configs/mtp.yaml -o "$TMPD/mtp2" --set 'model.elements=[Li, Si]' \
	--set "data.train=[$TMPD/train.mlb, $TMPD/si.mlb]" --set data.val= \
	--set 'tasks.0.datasets=[li, si]' --set 'tasks.1.datasets=[li, si]' --set 'tasks.2.datasets=[li, si]' \
	--set schedule.epochs=1 --set optim.lbfgs.steps=2
expect_status 0 mlip-eval -q "$TMPD/mtp2/inference_ckpt.mlip" "$TMPD/si.mlb" "$TMPD/val.mlb"
expect_out '"si,forces,mae"'
