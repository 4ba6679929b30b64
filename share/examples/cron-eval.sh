#!/bin/sh
# A cron-ready regression check: evaluate a model on a fixed benchmark set,
# append the results to a history file (one JSON line per run), and exit 1
# (cron mails the output) when an error metric crosses its threshold.
#
#   crontab:  15 3 * * *  /path/to/cron-eval.sh /models/current.mlip /data/bench.mlb
#
# Environment: HISTORY (default $HOME/mlip-eval-history.jsonl), FORCE_MAE and
# ENERGY_MAE (eV/Å and eV/atom thresholds), DATASET (the dataset name in the
# metric keys, default si), MLIP (the directory of the programs, default PATH).
set -u
model=${1:?usage: cron-eval.sh MODEL DATA...}
shift
history=${HISTORY:-$HOME/mlip-eval-history.jsonl}
ds=${DATASET:-si}
eval_cmd=${MLIP:+$MLIP/}mlip-eval
"$eval_cmd" -q --jsonl "$history" \
	--fail-if "$ds,forces,mae>${FORCE_MAE:-0.15}" \
	--fail-if "$ds,energy,per_atom_mae>${ENERGY_MAE:-0.010}" \
	"$model" "$@"
status=$?
case $status in
0) ;;
1) echo "mlip regression: a metric crossed its threshold; see the last line of $history" >&2 ;;
*) echo "mlip-eval could not run (exit $status): model or data unreadable, or a bad key" >&2 ;;
esac
exit $status
