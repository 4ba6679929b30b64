# --unset KEY removes a key or a list item of the configuration (in order with
# --set): dropping the stress task trains two tasks; what is not there is an
# error (exit 2) naming it. mlip-finetune-init takes it too.
. tests/cli/lib.sh
D="$TMPD"
si_streams "$D"
si_config "$D/cfg.yaml" "$D/train.mlb" "$D/val.mlb"
expect_status 0 mlip-train -q -c "$D/cfg.yaml" -o "$D/run" --unset tasks.2 --set schedule.epochs=1
grep -q "name: stress" "$D/run/config.yaml" && die "the stress task is still in the resolved config"
grep -q '"loss/stress"' "$TMPD/out" && die "a stress loss was trained"
grep -q '"loss/forces"' "$TMPD/out" || die "no forces loss"
expect_status 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/r2" --unset tasks.5
expect_err "--unset tasks.5: the configuration has no 'tasks.5'"
expect_status 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/r2" --unset optim.lr=1
expect_err "--unset takes a KEY, not 'optim.lr=1'"
# order matters: unset, then set again
expect_status 0 mlip-train -q -c "$D/cfg.yaml" -o "$D/r3" --unset optim --set optim.lr=0.002 \
	--set schedule.epochs=1
grep -q "lr: 0.002" "$D/r3/config.yaml" || die "--set after --unset was lost"
# fine-tuning: a task of the base model removed from the starting model's config
expect_status 0 mlip-finetune-init -q "$D/run/inference_ckpt.mlip" -o "$D/start.mlip" --unset tasks.1
expect_status 0 mlip-eval "$D/start.mlip" "$D/val.mlb"
grep -q '"si,forces' "$TMPD/out" && die "the removed forces task is still evaluated"
grep -q '"si,energy' "$TMPD/out" || die "the energy task is gone"
