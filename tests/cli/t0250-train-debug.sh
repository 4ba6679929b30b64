# train.debug_checksums: per step and rank, the loss and the mean |θ| and
# mean |g| (before clipping) of every tensor, one JSON line each.
# (The same files note each batch a rank reads: t0221.)
. tests/cli/lib.sh
si_streams "$TMPD"
si_config "$TMPD/cfg.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
expect_status 0 timeout 120 $MPIEXEC -n 2 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/run" \
	--set train.debug_checksums=true --set schedule.epochs=2
for r in 0 1; do
	f="$TMPD/run/debug/checksums.rank$r.jsonl"
	[ -s "$f" ] || die "no $f"
	$PY - "$f" "$r" <<'PYEOF' || exit 1
import json, sys, math
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if "type" not in r]  # the step lines ("read" lines: t0221)
assert len(rows) == 6, len(rows)          # 5 batches over 2 ranks: 3 steps per epoch, 2 epochs
assert [r["step"] for r in rows] == list(range(6))
for r in rows:
    assert r["rank"] == int(sys.argv[2])
    assert math.isfinite(r["loss"]) and r["loss"] > 0
    t = r["tensors"]
    assert "Si.w1" in t and "Si.b_out" in t and "Si.sf_mean" in t
    assert t["Si.sf_std"][1] == 0.0           # frozen scaling: no gradient
    assert t["Si.w1"][0] > 0 and t["Si.w1"][1] > 0
PYEOF
done
# train.profile_flops: one record with the counted FLOPs of a forward and backward
expect_status 0 mlip-train -c "$TMPD/cfg.yaml" -o "$TMPD/prof" --set train.profile_flops=true --set schedule.epochs=1
expect_err "profile:"
$PY - "$TMPD/out" <<'PYEOF' || exit 1
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
p = [r for r in rows if r["type"] == "profile"]
assert len(p) == 1, p
p = p[0]
# the network 32 -> 12 -> 12 -> 1 alone costs 2*(32*12 + 12*12 + 12) FLOPs per atom forward
assert p["forward_flops"] >= 2 * (32 * 12 + 12 * 12 + 12) * p["atoms"], p
assert p["backward_flops"] > p["forward_flops"], p
assert abs(p["flops_per_atom"] - (p["forward_flops"] + p["backward_flops"]) / p["atoms"]) < 1e-6
PYEOF
