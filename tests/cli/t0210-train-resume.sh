# Resume gives the same weights bit for bit as a run never interrupted:
# from a saved checkpoint, after SIGKILL between checkpoints, and after
# SIGTERM (exit 143, checkpoint written).
. tests/cli/lib.sh
si_streams "$TMPD"
si_config "$TMPD/cfg.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
set_common="--set schedule.epochs=30 --set train.checkpoint_every=10 --set train.max_saved_checkpoints=50"
mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/full" $set_common > /dev/null || die "full run failed"
final="$TMPD/full/checkpoints/final"

# 1. from a checkpoint of the finished run, into a copy of its directory
mkdir -p "$TMPD/r1/checkpoints"
cp -r "$TMPD/full/checkpoints/step_50" "$TMPD/r1/checkpoints/"
expect_status 0 mlip-train -q --resume "$TMPD/r1/checkpoints/step_50"
cmp "$final/state.0.mlip" "$TMPD/r1/checkpoints/final/state.0.mlip" || die "resume from step 50 differs"
cmp "$TMPD/full/inference_ckpt.mlip" "$TMPD/r1/inference_ckpt.mlip" || die "final model differs"
# the resumed run's metrics continue where the checkpoint stopped
head -n 1 "$TMPD/out" | grep -q '"step":51' || die "resumed run did not start at step 51: $(head -c 200 "$TMPD/out")"

# 2. SIGKILL between checkpoints, then resume from the newest complete one
mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/k" $set_common > /dev/null 2>&1 &
pid=$!
i=0
while [ ! -e "$TMPD/k/checkpoints/step_40/DONE" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[ -e "$TMPD/k/checkpoints/final/DONE" ] && die "the run finished before it could be killed"
last=$(ls -d "$TMPD"/k/checkpoints/step_* | sort -t_ -k2 -n | while read d; do [ -e "$d/DONE" ] && echo "$d"; done | tail -n 1)
[ -n "$last" ] || die "no complete checkpoint after SIGKILL"
expect_status 0 mlip-train -q --resume "$last"
cmp "$final/state.0.mlip" "$TMPD/k/checkpoints/final/state.0.mlip" || die "resume after SIGKILL differs ($last)"

# 3. SIGTERM: finish the step, write a checkpoint, exit 143
mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/t" $set_common > /dev/null 2>"$TMPD/t.err" &
pid=$!
i=0
while [ ! -e "$TMPD/t/checkpoints/step_20/DONE" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid
wait $pid
status=$?
[ -e "$TMPD/t/checkpoints/final/DONE" ] && die "the run finished before SIGTERM"
expect_eq "$status" 143 "exit status after SIGTERM"
grep -q "stopped by signal 15" "$TMPD/t.err" || die "no message after SIGTERM: $(cat "$TMPD/t.err")"
last=$(ls -d "$TMPD"/t/checkpoints/step_* | sort -t_ -k2 -n | tail -n 1)
[ -e "$last/DONE" ] || die "the SIGTERM checkpoint $last is not complete"
expect_status 0 mlip-train -q --resume "$last"
cmp "$final/state.0.mlip" "$TMPD/t/checkpoints/final/state.0.mlip" || die "resume after SIGTERM differs ($last)"

# 4. a config that disagrees with the checkpoint is refused; frequencies may differ
sed 's/lr: 0.005/lr: 0.004/' "$TMPD/cfg.yaml" > "$TMPD/cfg2.yaml"
expect_status 2 mlip-train -q --resume "$TMPD/full/checkpoints/step_50" -c "$TMPD/cfg2.yaml" -o "$TMPD/x"
expect_err "disagrees with checkpoint"
expect_err "'optim'"
sed 's/print_every: 1/print_every: 7/' "$TMPD/cfg.yaml" > "$TMPD/cfg3.yaml"
mkdir -p "$TMPD/r3/checkpoints"
cp -r "$TMPD/full/checkpoints/step_50" "$TMPD/r3/checkpoints/"
expect_status 0 mlip-train -q --resume "$TMPD/r3/checkpoints/step_50" -c "$TMPD/cfg3.yaml" $set_common
cmp "$final/state.0.mlip" "$TMPD/r3/checkpoints/final/state.0.mlip" || die "changing print_every changed the result"
# an incomplete checkpoint is refused
rm "$TMPD/r3/checkpoints/step_50/DONE"
expect_status 3 mlip-train -q --resume "$TMPD/r3/checkpoints/step_50"
expect_err "incomplete checkpoint"
# resume.yaml is covered by the CRC-32 its DONE mark holds: one changed byte is refused
mkdir -p "$TMPD/r4/checkpoints"
cp -r "$TMPD/full/checkpoints/step_50" "$TMPD/r4/checkpoints/"
grep -q "^resume.yaml crc32 [0-9a-f]\{8\}$" "$TMPD/r4/checkpoints/step_50/DONE" || die "DONE holds no CRC"
sed -i 's/step: 50/step: 40/' "$TMPD/r4/checkpoints/step_50/resume.yaml"
expect_status 3 mlip-train -q --resume "$TMPD/r4/checkpoints/step_50"
expect_err "resume.yaml: damaged: its CRC-32 is"
expect_status 3 mlip-ckpt-convert -q "$TMPD/r4/checkpoints/step_50" "$TMPD/r4.mlip"
