# Data reading scales with ranks: a rank decodes only the training batches it
# works on. With train.debug_checksums each rank notes every batch it decodes
# ("type": "read"); over W = 2 ranks the fit reads each batch exactly once
# (rank r the batches k ≡ r mod 2), every epoch reads each batch exactly once
# across the ranks (each rank the batch of its step, when it trains on it),
# and the l-bfgs phase reads each rank's share once and keeps it.
. tests/cli/lib.sh
mlip-collate -q -c 4.5 -d si -b 2 --split 0.8 --seed 2 -o "$TMPD/train.mlb" -o "$TMPD/val.mlb" \
	"$MLIP_TOP/share/demo/si-test.json" || die "collate failed"
si_config "$TMPD/cfg.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
for W in 1 2; do
	expect_status 0 timeout 120 $MPIEXEC -n $W mlip-train -c "$TMPD/cfg.yaml" -o "$TMPD/run$W" \
		--set train.debug_checksums=true --set schedule.epochs=3 --set optim.lbfgs.steps=2 \
		--set train.print_every=0
	n=$(sed -n 's/.*training on \([0-9]*\) batches.*/\1/p' "$TMPD/err")
	[ "${n:-0}" -ge 4 ] || die "cannot find the number of batches in: $(cat "$TMPD/err")"
	$PY - "$TMPD/run$W/debug" "$W" "$TMPD/out" "$n" <<'PYEOF' || exit 1
import json, sys, glob, collections
d, W, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[4])
reads, steps = [], {}
for r in range(W):
    for l in open(f"{d}/checksums.rank{r}.jsonl"):
        o = json.loads(l)
        if o.get("type") == "read":
            assert o["rank"] == r, o
            reads.append(o)
        elif "type" not in o:
            steps[(r, o["step"])] = o
train = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
end = [o for o in train if o["type"] == "end"]
assert end, "no end record"
# every batch is read once for the fit
fit = [o for o in reads if o["phase"] == "fit"]
assert sorted(o["batch"] for o in fit) == list(range(n)), fit
for o in fit:
    assert o["batch"] % W == o["rank"] and o["step"] == 0, o
assert n % W == 0, f"{n} batches do not split evenly over {W} ranks; change -b"
bpe = n // W
tr = [o for o in reads if o["phase"] == "train"]
assert len(tr) == 3 * n, (len(tr), n)          # 3 epochs, each batch once per epoch
for e in range(3):
    ep = [o for o in tr if e * bpe <= o["step"] < (e + 1) * bpe]
    assert sorted(o["batch"] for o in ep) == list(range(n)), (e, ep)
    for r in range(W):                           # one read per step and rank
        assert sorted(o["step"] for o in ep if o["rank"] == r) == list(range(e * bpe, (e + 1) * bpe))
lb = [o for o in reads if o["phase"] == "lbfgs"]
assert sorted(o["batch"] for o in lb) == list(range(n)), lb
for o in lb:
    assert o["batch"] % W == o["rank"], o
per_rank = collections.Counter(o["rank"] for o in reads)
assert all(c == (n + 3 * n + n) // W for c in per_rank.values()), per_rank
PYEOF
done
