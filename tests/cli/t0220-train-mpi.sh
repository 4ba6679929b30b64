# mpiexec -n 2: the same loss curve as one process on the same global
# batches (to 1e-10 relative; metrics print 17 digits), ddp and sharded alike; sharded checkpoints hold half
# of the optimizer state each; mlip-ckpt-convert gives, byte for byte, the
# model the run wrote, whatever the world size.
. tests/cli/lib.sh
si="$MLIP_TOP/share/demo/si-test.json"
# 16 structures: one batch of 16 for one process, two batches of 8 for two ranks
mlip-collate -q -c 4.5 -d si --split 0.64 --seed 5 -o "$TMPD/all.mlb" -o "$TMPD/val.mlb" "$si"
mlip-collate --dump --dump-format extxyz "$TMPD/all.mlb" > "$TMPD/all.xyz"
mlip-collate -q -c 4.5 -b 16 -o "$TMPD/one.mlb" "$TMPD/all.xyz"
mlip-collate -q -c 4.5 -b 8 -o "$TMPD/two.mlb" "$TMPD/all.xyz"
expect_eq "$(mlip-collate --dump "$TMPD/one.mlb" | wc -l | tr -d ' ')" 16 "structures"
si_config "$TMPD/c1.yaml" "$TMPD/one.mlb" "$TMPD/val.mlb"
si_config "$TMPD/c2.yaml" "$TMPD/two.mlb" "$TMPD/val.mlb"
sets="--set schedule.epochs=6 --set train.checkpoint_every=3"
expect_status 0 mlip-train -q -c "$TMPD/c1.yaml" -o "$TMPD/w1" $sets
cp "$TMPD/out" "$TMPD/w1.jsonl"
expect_status 0 timeout 120 $MPIEXEC -n 2 mlip-train -q -c "$TMPD/c2.yaml" -o "$TMPD/ddp" $sets
cp "$TMPD/out" "$TMPD/ddp.jsonl"
expect_status 0 timeout 120 $MPIEXEC -n 2 mlip-train -q -c "$TMPD/c2.yaml" -o "$TMPD/sh" $sets \
	--set train.strategy=sharded
cp "$TMPD/out" "$TMPD/sh.jsonl"
$PY - "$TMPD/w1.jsonl" "$TMPD/ddp.jsonl" "$TMPD/sh.jsonl" <<'PYEOF' || exit 1
import json, sys
def curve(f):
    return [json.loads(l) for l in open(f)]
a, b, c = (curve(f) for f in sys.argv[1:])
assert len(a) == len(b) == len(c) and len(a) >= 12, (len(a), len(b), len(c))
worst = 0.0
for ra, rb, rc in zip(a, b, c):
    assert ra["type"] == rb["type"] == rc["type"] and ra["step"] == rb["step"] == rc["step"]
    for k, v in ra.items():
        if k in ("samples_per_s", "atoms_per_s", "wall_s", "type", "step", "epoch", "optimizer", "model") or v is None:
            continue
        for other in (rb, rc):
            d = abs(other[k] - v) / max(abs(v), 1e-300)
            worst = max(worst, d)
            assert d < 1e-10, (ra["step"], k, v, other[k])
print("largest relative difference, 2 ranks vs 1:", worst, file=sys.stderr)
PYEOF
# sharded: each rank's state file holds about half of the parameters
n0=$(wc -c < "$TMPD/sh/checkpoints/final/state.0.mlip")
n1=$(wc -c < "$TMPD/sh/checkpoints/final/state.1.mlip")
nd=$(wc -c < "$TMPD/ddp/checkpoints/final/state.0.mlip")
[ $((n0 + n1)) -le $((nd + 2048)) ] || die "sharded state $n0 + $n1 bytes vs ddp $nd"
[ $((n0 * 10)) -lt $((nd * 6)) ] && [ $((n1 * 10)) -lt $((nd * 6)) ] || die "shards are not halves: $n0 $n1 of $nd"
# convert: byte-identical to the model written beside each checkpoint
for run in w1 ddp sh; do
	for ck in "$TMPD/$run/checkpoints"/*; do
		expect_status 0 mlip-ckpt-convert -q "$ck" "$TMPD/conv.mlip"
		cmp -s "$TMPD/conv.mlip" "$ck/inference_ckpt.mlip" || die "$run $(basename "$ck"): convert differs"
	done
done
# a world of 2 resumes a world of 2 bit for bit
mkdir -p "$TMPD/res/checkpoints"
cp -r "$TMPD/sh/checkpoints/step_6" "$TMPD/res/checkpoints/"
expect_status 0 timeout 120 $MPIEXEC -n 2 mlip-train -q --resume "$TMPD/res/checkpoints/step_6"
for r in 0 1; do
	cmp -s "$TMPD/sh/checkpoints/final/state.$r.mlip" "$TMPD/res/checkpoints/final/state.$r.mlip" \
		|| die "sharded resume differs on rank $r"
done
# sharded: a rank holds the AdamW moments and the EMA of its shard only (ddp: of everything)
expect_status 0 timeout 120 $MPIEXEC -n 2 mlip-train -c "$TMPD/c2.yaml" -o "$TMPD/mem_sh" $sets \
	--set train.strategy=sharded --set schedule.epochs=1
line=$(grep "optimizer state on rank 0" "$TMPD/err") || die "no optimizer-state line: $(cat "$TMPD/err")"
held=$(echo "$line" | sed 's/.*rank 0: \([0-9]*\) of \([0-9]*\) parameters.*/\1 \2/')
set -- $held
[ $(($1 * 2)) -ge $(($2 - 1)) ] && [ $(($1 * 2)) -le $(($2 + 1)) ] || die "sharded rank 0 holds $1 of $2: $line"
expect_status 0 timeout 120 $MPIEXEC -n 2 mlip-train -c "$TMPD/c2.yaml" -o "$TMPD/mem_ddp" $sets \
	--set schedule.epochs=1
expect_err "optimizer state on rank 0: $2 of $2 parameters"
# another world size is refused: per-rank batches per epoch set the schedule (W=2 -> W=1, 1 -> 2)
expect_status 2 mlip-train -q --resume "$TMPD/res/checkpoints/step_6"
expect_err "the checkpoint was written by 2 ranks, this run has 1: resume it with mpiexec.mpich -n"
expect_status 2 timeout 60 $MPIEXEC -n 2 mlip-train -q --resume "$TMPD/w1/checkpoints/step_6"
expect_err "written by 1 rank, this run has 2"
# an error on one rank stops both, with the message, no hang
expect_status 4 timeout 60 $MPIEXEC -n 2 mlip-train -q -c "$TMPD/c2.yaml" -o "$TMPD/err" \
	--set data.train=["$TMPD/missing.mlb"]
expect_err "missing.mlb"
# train -> convert -> eval: the three runs' models give the same metrics (1e-10)
for run in w1 ddp sh; do
	mlip-ckpt-convert -q "$TMPD/$run/checkpoints/final" "$TMPD/$run.mlip" || die "convert $run"
	mlip-eval -q "$TMPD/$run.mlip" "$TMPD/val.mlb" > "$TMPD/$run.json" || die "eval $run"
done
$PY - "$TMPD/w1.json" "$TMPD/ddp.json" "$TMPD/sh.json" <<'PYEOF' || exit 1
import json, sys
a, b, c = (json.load(open(f)) for f in sys.argv[1:])
n = 0
for k, v in a.items():
    if isinstance(v, float) and k != "atoms_per_s":
        for o in (b, c):
            assert abs(o[k] - v) <= 1e-10 * max(abs(v), 1e-300), (k, v, o[k])
        n += 1
assert n >= 8, n
PYEOF
