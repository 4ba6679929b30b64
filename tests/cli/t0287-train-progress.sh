# Progress for batch jobs: with stderr not a terminal, mlip-train writes whole
# lines (no carriage returns) at most every MLIP_PROGRESS_SECONDS (10 by
# default) with step, epoch or L-BFGS state, loss, lr, atoms/s and the time
# left; -q silences them; stdout keeps only the metrics.
. tests/cli/lib.sh
D="$TMPD"
si_streams "$D"
si_config "$D/cfg.yaml" "$D/train.mlb" "$D/val.mlb"
MLIP_PROGRESS_SECONDS=0 mlip-train -c "$D/cfg.yaml" -o "$D/run" --set 'optim.lbfgs={steps: 3}' \
	> "$D/m.jsonl" 2> "$D/err" || die "training failed: $(cat "$D/err")"
grep -q "$(printf '\r')" "$D/err" && die "carriage returns in a log file"
grep -Eq '^step [0-9]+/23  epoch [0-9.]+  loss [0-9.e+-]+  lr [0-9.e+-]+  [0-9.e+]+ atoms/s  eta [0-9]+ s$' \
	"$D/err" || die "no AdamW progress line: $(cat "$D/err")"
grep -Eq '^step 2[1-3]/23  l-bfgs  loss [0-9.e+-]+  \|g\| [0-9.e+-]+  [0-9.e+]+ atoms/s  eta [0-9]+ s$' \
	"$D/err" || die "no L-BFGS progress line: $(cat "$D/err")"
jq -e . "$D/m.jsonl" > /dev/null || die "stdout is not only JSON Lines"
# the default interval writes none in a run this short; -q none at all
mlip-train -c "$D/cfg.yaml" -o "$D/r2" 2> "$D/err2" > /dev/null || die "training failed"
grep -q "^step " "$D/err2" && die "a progress line within 10 s: $(cat "$D/err2")"
MLIP_PROGRESS_SECONDS=0 mlip-train -q -c "$D/cfg.yaml" -o "$D/r3" 2> "$D/err3" > /dev/null || die "training failed"
[ -s "$D/err3" ] && die "-q printed: $(cat "$D/err3")"
exit 0
