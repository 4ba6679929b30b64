# A short real run on mlearn Si: metrics as JSON Lines, checkpoints pruned,
# the final model written, and validation errors well below those of the
# untrained model.
. tests/cli/lib.sh
si_streams "$TMPD"
si_config "$TMPD/cfg.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
expect_status 0 mlip-train -c "$TMPD/cfg.yaml" -o "$TMPD/run" --set train.checkpoint_every=4 \
	--set train.max_saved_checkpoints=2 --set schedule.epochs=8
cp "$TMPD/out" "$TMPD/trained.jsonl"
expect_err "training on 5 batches (20 structures"
run="$TMPD/run"
for f in config.yaml inference_ckpt.mlip checkpoints/final/DONE checkpoints/final/resume.yaml \
	checkpoints/final/state.0.mlip checkpoints/final/inference_ckpt.mlip; do
	[ -e "$run/$f" ] || die "missing $f"
done
# 8 epochs x 5 batches = 40 steps, checkpoints every 4: only the newest two are kept
expect_eq "$(ls "$run/checkpoints" | sort | tr '\n' ' ')" "final step_36 step_40 " "kept checkpoints"
$PY - "$TMPD/trained.jsonl" <<'PYEOF' || exit 1
import json, sys, math
rows = [json.loads(l) for l in open(sys.argv[1])]
train = [r for r in rows if r["type"] == "train"]
val = [r for r in rows if r["type"] == "val"]
assert len(train) == 40, len(train)
assert [r["step"] for r in train] == list(range(1, 41))
assert len(val) == 8, len(val)                     # one per epoch
for r in train:
    for k in ("loss", "loss/energy", "loss/forces", "loss/stress", "lr", "grad_norm", "atoms_per_s"):
        assert math.isfinite(r[k]), (k, r)
    assert abs(r["loss"] - r["loss/energy"] - r["loss/forces"] - r["loss/stress"]) < 1e-9 * max(1, r["loss"])
# warm-up then cosine: lr rises over the first two steps, then falls
lrs = [r["lr"] for r in train]
assert lrs[0] < lrs[2] and lrs[-1] < lrs[5], lrs[:6]
for k in ("val/si,energy,mae", "val/si,forces,mae", "val/si,stress,mae", "val/si,forces,cosine_similarity"):
    assert k in val[-1], k
PYEOF
# the untrained model: the same run with a learning rate too small to move
mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/untrained" --set optim.lr=1e-12 --set schedule.epochs=1 \
	> "$TMPD/untrained.jsonl" || die "untrained run failed"
$PY - "$TMPD/untrained.jsonl" "$TMPD/trained.jsonl" <<'PYEOF' || exit 1
import json, sys
last = lambda f: [json.loads(l) for l in open(f) if '"val"' in l][-1]
u, t = last(sys.argv[1]), last(sys.argv[2])
for k in ("val/si,forces,mae", "val/si,energy,per_atom_mae"):
    print(k, "untrained", u[k], "trained", t[k])
    assert t[k] < 0.6 * u[k], (k, u[k], t[k])
PYEOF
