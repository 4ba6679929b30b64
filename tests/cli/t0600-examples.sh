# share/examples: the Makefile experiment runs, and a second run does
# nothing; changing the config re-runs training and what follows only; the
# cron script appends history and exits 1 on a regression.
. tests/cli/lib.sh
mk() { make --no-print-directory -f share/examples/Makefile OUT="$TMPD/exp" SET="--set schedule.epochs=2" "$@"; }
mk > "$TMPD/first.log" 2>&1 || { cat "$TMPD/first.log"; die "the experiment failed"; }
for f in train.mlb val.mlb test.mlb model.mlip test-metrics.json test-predictions.xyz metrics.jsonl; do
	[ -s "$TMPD/exp/$f" ] || die "no $f"
done
grep -q '"si,forces,mae"' "$TMPD/exp/test-metrics.json" || die "no metrics"
mk -q || die "make -q: something is out of date right after a run"
mk > "$TMPD/second.log" 2>&1
grep -q "mlip-" "$TMPD/second.log" && die "the second run ran commands: $(cat "$TMPD/second.log")"
# a changed config: training, conversion and evaluation again, not collation
cp share/configs/demo.yaml "$TMPD/cfg.yaml"
mk CONFIG="$TMPD/cfg.yaml" > "$TMPD/third.log" 2>&1 || die "the run with a new config failed"
grep -q "mlip-train" "$TMPD/third.log" || die "a new config did not retrain"
grep -q "mlip-collate" "$TMPD/third.log" && die "a new config re-collated"
touch "$TMPD/cfg.yaml"
mk CONFIG="$TMPD/cfg.yaml" -q && die "touching the config did not make training out of date"

# cron: loose thresholds pass, a tight one alarms; both runs are in the history
export HISTORY="$TMPD/history.jsonl" MLIP="$MLIP_TOP/bin"
FORCE_MAE=5 ENERGY_MAE=1 expect_status 0 sh share/examples/cron-eval.sh "$TMPD/exp/model.mlip" "$TMPD/exp/test.mlb"
FORCE_MAE=0.001 expect_status 1 sh share/examples/cron-eval.sh "$TMPD/exp/model.mlip" "$TMPD/exp/test.mlb"
expect_err "crossed its threshold"
expect_eq "$(wc -l < "$HISTORY" | tr -d ' ')" 2 "history lines"
expect_status 4 sh share/examples/cron-eval.sh "$TMPD/missing.mlip" "$TMPD/exp/test.mlb"
expect_err "could not run (exit 4)"
