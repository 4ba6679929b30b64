# mlip-eval on a freshly trained model: the results equal mlip-train's own
# validation line for the same batches; the report fields are right; structure
# files, stdin and batch streams give the same numbers; --jsonl appends;
# --weights picks the stored weights.
. tests/cli/lib.sh
D="$TMPD"
si=share/demo/si-train.json
mlip-collate -q -c 5.0 -d si --split 0.9 --seed 1 -o "$D/train.mlb" -o "$D/val.mlb" "$si" || die "collate"
cat > "$D/cfg.yaml" <<CFG
seed: 1
data: {train: $D/train.mlb, val: $D/val.mlb}
model: {cutoff: 5.0, elements: [Si], hidden: [8, 8]}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse, normalizer: rmsd, element_references: fit, metrics: [mae, per_atom_mae]}
  - {name: forces, property: forces, datasets: [si], loss: {name: mse, coefficient: 10}, metrics: [mae, rmse]}
  - {name: stress, property: stress, datasets: [si], loss: mse, metrics: [mae]}
optim: {lr: 0.005}
schedule: {epochs: 2}
train: {print_every: 5, ema_decay: 0.9}
CFG
mlip-train -q -c "$D/cfg.yaml" -o "$D/run" > "$D/train.jsonl" || die "training failed"
M="$D/run/inference_ckpt.mlip"

# same_results A B: every key equal, apart from timing and time
same_results() {
	$PY - "$1" "$2" <<'PYEOF'
import json, sys
a, b = (json.loads(open(p).read().strip().splitlines()[-1]) for p in sys.argv[1:3])
for d in (a, b):
    d.pop("atoms_per_s"); d.pop("timestamp")
assert a == b, "\n%s\n%s" % (a, b)
PYEOF
}

# 1. the model on val.mlb reports what mlip-train reported for val.mlb at the end
expect_status 0 mlip-eval "$M" "$D/val.mlb"
[ "$(wc -l < "$TMPD/out")" -eq 1 ] || die "more than one line on stdout"
[ -s "$TMPD/err" ] && die "stderr not empty: $(cat "$TMPD/err")"
cp "$TMPD/out" "$D/val.json"
grep '"type":"val"' "$D/train.jsonl" | tail -n 1 > "$D/val_train.json"
mlip-collate --dump "$D/val.mlb" > "$D/val.dump"
$PY - "$D/val.json" "$D/val_train.json" "$D/val.dump" "$M" <<'PYEOF' || die "results differ from mlip-train's validation"
import json, sys, zlib, re, datetime
ev = json.loads(open(sys.argv[1]).read())
tr = json.loads(open(sys.argv[2]).read())
rows = [json.loads(l) for l in open(sys.argv[3])]
keys = [k[4:] for k in tr if k.startswith("val/")]
assert len(keys) == 6 and "loss" in keys, keys
for k in keys:
    assert ev[k] == tr["val/" + k], (k, ev[k], tr["val/" + k])
    assert ev[k] is not None and ev[k] > 0, k
metric_keys = [k for k in ev if k.count(",") == 2]
assert sorted(metric_keys) == sorted(k for k in keys if k != "loss"), metric_keys
assert ev["structures"] == len(rows) == 7, ev["structures"]
assert ev["atoms"] == sum(r["natoms"] for r in rows), ev["atoms"]
assert ev["model"] == sys.argv[4]
assert ev["model_crc32"] == "%08x" % zlib.crc32(open(sys.argv[4], "rb").read()), ev["model_crc32"]
assert ev["atoms_per_s"] > 0
t = datetime.datetime.strptime(ev["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
now = datetime.datetime.utcnow()
assert abs((now - t).total_seconds()) < 120, (t, now)
PYEOF

# 2. structure files are collated at the model's cutoff like mlip-collate's default:
# the same numbers as the stream, loss included; mlearn JSON and extxyz alike
test=share/demo/si-test.json
mlip-collate -q -c 5.0 -d si "$test" > "$D/test.mlb"
mlip-eval "$M" "$D/test.mlb" > "$D/stream.json" || die "eval stream"
mlip-eval -d si "$M" "$test" > "$D/json.json" || die "eval mlearn json"
same_results "$D/stream.json" "$D/json.json" || die "mlearn file and stream differ"
mlip-collate --dump --dump-format extxyz "$D/test.mlb" > "$D/test.xyz"
mlip-eval "$M" "$D/test.xyz" > "$D/xyz.json" || die "eval extxyz"
same_results "$D/stream.json" "$D/xyz.json" || die "extxyz file and stream differ"
grep -q '"structures":25,' "$D/xyz.json" || die "not 25 structures: $(cat "$D/xyz.json")"
# unnamed structures belong to the model's only dataset
mlip-eval "$M" "$test" > "$D/unnamed.json" || die "eval of unnamed structures failed"
same_results "$D/stream.json" "$D/unnamed.json" || die "unnamed structures are not taken as 'si'"
# a dataset no task reads: nothing to measure, exit 3 naming both sides (the results still print)
expect_status 3 mlip-eval -d other "$M" "$test"
expect_out '"other,forces,mae":null'
expect_err "the data hold dataset other, the tasks read si; name the dataset"
# unlabelled structures: an error without -p, their predictions with it
mlip-collate -q -c 5.0 -d si --exclude energy,forces,stress "$test" > "$D/nolabels.mlb"
expect_status 3 mlip-eval "$M" "$D/nolabels.mlb"
expect_err "the data have no labels (energy, forces, stress): nothing to measure; -p FILE"
expect_status 0 mlip-eval -p "$D/nolabels.xyz" "$M" "$D/nolabels.mlb"
expect_err "the metrics are null; the predictions are written"
[ "$(grep -c Lattice "$D/nolabels.xyz")" = 25 ] || die "predictions of unlabelled structures missing"

# 3. standard input: extxyz through '-', a batch stream without DATA, a pipe
mlip-eval "$M" - < "$D/test.xyz" > "$D/stdin1.json" || die "extxyz on stdin"
same_results "$D/stream.json" "$D/stdin1.json" || die "extxyz on stdin differs"
mlip-eval "$M" < "$D/test.mlb" > "$D/stdin2.json" || die "stream on stdin"
same_results "$D/stream.json" "$D/stdin2.json" || die "stream on stdin differs"
mlip-collate -q -c 5.0 -d si "$test" | mlip-eval "$M" - > "$D/stdin3.json" || die "pipe"
same_results "$D/stream.json" "$D/stdin3.json" || die "pipe differs"

# 4. several inputs: the union (metrics are micro-averages, so the counts add)
mlip-eval "$M" "$D/val.mlb" "$D/test.mlb" > "$D/both.json" || die "two inputs"
$PY - "$D/val.json" "$D/stream.json" "$D/both.json" <<'PYEOF' || die "two inputs do not combine"
import json, sys
a, b, ab = (json.loads(open(p).read()) for p in sys.argv[1:4])
assert ab["structures"] == a["structures"] + b["structures"] == 32
assert ab["atoms"] == a["atoms"] + b["atoms"]
# energy MAE is a mean over structures: the weighted mean of the parts
w = (a["si,energy,mae"] * 7 + b["si,energy,mae"] * 25) / 32
assert abs(ab["si,energy,mae"] - w) < 1e-8 * w, (ab["si,energy,mae"], w)
PYEOF

# 5. --jsonl appends one line per run and leaves stdout empty
expect_status 0 mlip-eval --jsonl "$D/hist.jsonl" "$M" "$D/val.mlb"
[ -s "$TMPD/out" ] && die "--jsonl printed on stdout"
expect_status 0 mlip-eval --jsonl "$D/hist.jsonl" "$M" "$D/test.mlb"
[ "$(wc -l < "$D/hist.jsonl")" -eq 2 ] || die "history has $(wc -l < "$D/hist.jsonl") lines, not 2"
head -n 1 "$D/hist.jsonl" > "$D/h1.json"
same_results "$D/val.json" "$D/h1.json" || die "first history line differs"
tail -n 1 "$D/hist.jsonl" > "$D/h2.json"
same_results "$D/stream.json" "$D/h2.json" || die "second history line differs"
expect_status 4 mlip-eval --jsonl "$D/no/such/dir/h.jsonl" "$M" "$D/val.mlb"
expect_err "no/such/dir/h.jsonl"

# 6. --weights: the primary weights of a model trained with EMA are the EMA ones;
# the raw weights are different numbers
mlip-eval --weights ema "$M" "$D/val.mlb" > "$D/ema.json" || die "--weights ema"
same_results "$D/val.json" "$D/ema.json" || die "EMA is not the default"
mlip-eval --weights raw "$M" "$D/val.mlb" > "$D/raw.json" || die "--weights raw"
$PY - "$D/ema.json" "$D/raw.json" <<'PYEOF' || die "--weights raw gave the EMA numbers"
import json, sys
a, b = (json.loads(open(p).read()) for p in sys.argv[1:3])
assert a["si,forces,mae"] != b["si,forces,mae"] and a["loss"] != b["loss"]
PYEOF
exit 0
