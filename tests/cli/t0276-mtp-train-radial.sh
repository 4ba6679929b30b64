# model.descriptor.train_radial: the moment tensor basis's radial coefficients
# are the trained tensor mtp.radial. The run resumes bit for bit (AdamW and
# L-BFGS, whose kept geometry must recompute the rows as the coefficients
# move), the model file holds the tensor and converts to the same model,
# evaluates, and predicts through libmlip as mlip-eval does; the key is
# refused on symmetry functions and must be a boolean (t0275 covers the
# models without it, whose files are as before). Two ranks (ddp, sharded)
# give one process's loss curve; float32 trains.
. tests/cli/lib.sh
D="$TMPD"
si_streams "$D"
si_config "$D/cfg.yaml" "$D/train.mlb" "$D/val.mlb"
mtp='model.descriptor={type: mtp, level: 12, r_min: 1.5, train_radial: true}'
expect_status 0 mlip-train -q -c "$D/cfg.yaml" -o "$D/run" --set "$mtp" --set 'optim.lbfgs={steps: 4}' \
	--set train.checkpoint_every=10 --set train.max_saved_checkpoints=10
grep -q "train_radial: true" "$D/run/config.yaml" || die "the resolved config lost train_radial"
jq -e 'select(.type == "end") | .loss < 1e3' "$TMPD/out" > /dev/null || die "no end record"
# resume from inside the run: the same final state, bit for bit
expect_status 0 mlip-train -q --resume "$D/run/checkpoints/step_10" -o "$D/res" > /dev/null
mkdir -p "$D/res/checkpoints" && cp -r "$D/run/checkpoints/step_10" "$D/res/checkpoints/"
expect_status 0 mlip-train -q --resume "$D/res/checkpoints/step_10"
cmp -s "$D/run/checkpoints/final/state.0.mlip" "$D/res/checkpoints/final/state.0.mlip" ||
	die "resumed run with trained radials differs"
# the model file: the tensor is there, last in the table, and converts to the same file
# (t0505 checks that training moved it and that the evaluation uses it)
M="$D/run/inference_ckpt.mlip"
$PY - "$M" <<'PYEOF' || die "the model file's mtp.radial is missing"
import json, struct, sys
data = open(sys.argv[1], "rb").read()
jbytes = struct.unpack_from("<IIQ", data, 8)[2]
meta = json.loads(data[64:64 + jbytes])
t = [x for x in meta["tensors"] if x["name"] == "mtp.radial"]
assert len(t) == 1 and t[0]["shape"] == [1, 1, 3, 8], t
assert meta["tensors"][-1]["name"] == "mtp.radial"
PYEOF
model_paths_agree "$D/run" "$D/val.mlb"
# two ranks (ddp and sharded: the tensor is the end of the flat buffer) follow one process's
# loss curve on the same global batches, to 1e-10 relative; float32 trains too
mlip-collate -q -c 4.5 -d si --split 0.64 --seed 5 -o "$D/all.mlb" -o "$D/v.mlb" "$MLIP_TOP/share/demo/si-test.json"
mlip-collate --dump --dump-format extxyz "$D/all.mlb" > "$D/all.xyz"
mlip-collate -q -c 4.5 -b 16 -o "$D/one.mlb" "$D/all.xyz"
mlip-collate -q -c 4.5 -b 8 -o "$D/two.mlb" "$D/all.xyz"
si_config "$D/c1.yaml" "$D/one.mlb" "$D/v.mlb"
si_config "$D/c2.yaml" "$D/two.mlb" "$D/v.mlb"
expect_status 0 mlip-train -q -c "$D/c1.yaml" -o "$D/w1" --set "$mtp" --set schedule.epochs=6
cp "$TMPD/out" "$D/w1.jsonl"
for st in ddp sharded; do
	expect_status 0 timeout 120 $MPIEXEC -n 2 mlip-train -q -c "$D/c2.yaml" -o "$D/$st" --set "$mtp" \
		--set schedule.epochs=6 --set train.strategy=$st
	cp "$TMPD/out" "$D/$st.jsonl"
done
$PY - "$D/w1.jsonl" "$D/ddp.jsonl" "$D/sharded.jsonl" <<'PYEOF' || die "two ranks differ from one"
import json, sys
a, b, c = ([json.loads(l) for l in open(f)] for f in sys.argv[1:])
assert len(a) == len(b) == len(c) and len(a) >= 12, (len(a), len(b), len(c))
for ra, rb, rc in zip(a, b, c):
    for k, v in ra.items():
        if k in ("samples_per_s", "atoms_per_s", "wall_s", "type", "step", "epoch", "optimizer", "model") or v is None:
            continue
        for other in (rb, rc):
            assert abs(other[k] - v) <= 1e-10 * max(abs(v), 1e-300), (ra["step"], k, v, other[k])
PYEOF
expect_status 0 mlip-train -q -c "$D/cfg.yaml" -o "$D/f32" --set "$mtp" --set model.precision=float32
jq -e 'select(.type == "end") | .loss < 1e3' "$TMPD/out" > /dev/null || die "float32: no end record"
# refusals
expect_status 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/bad" --set 'model.descriptor={type: symmetry_functions, train_radial: true}'
expect_err "train_radial are options of type mtp"
expect_status 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/bad" --set 'model.descriptor={type: mtp, level: 12, train_radial: maybe}'
expect_err "model.descriptor.train_radial"
expect_status 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/bad" --set 'model.descriptor={type: mtp, level: 12, n_radial: 6, n_pair: 7}'
expect_err "'model.descriptor.n_pair': must be at most n_radial (6), got '7'"
expect_status 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/bad" --set 'model.descriptor={type: mtp, level: 12, n_pair: 65}'
expect_err "'model.descriptor.n_pair': must be in 0..64"
expect_status 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/bad" --set 'model.descriptor={type: symmetry_functions, n_pair: 8}'
expect_err "n_pair and train_radial are options of type mtp"
exit 0
