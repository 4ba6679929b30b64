#!/bin/sh
# make bench-accuracy: train each recipe (share/configs/bpnn.yaml, the
# symmetry functions, and share/configs/mtp.yaml, the moment tensor basis)
# on the mlearn Si and Li training sets, one process on one core, adapting it
# with --set only; evaluate the final (EMA) model on the test sets with
# mlip-eval; print the accuracy table and write it, with the training wall
# time and the machine, to bench/RESULTS.md (the "Accuracy" section; any
# other section of that file is kept).
#
# Environment: MLIP_MLEARN_DIR (default ../shared/data/mlearn),
# MLIP_ACCURACY_ELEMENTS (default "Si Li"), MLIP_ACCURACY_DIR (work
# directory, default a temporary one, removed at the end),
# MLIP_ACCURACY_RESULTS (default bench/RESULTS.md; "-" for none),
# MLIP_ACCURACY_CONFIG (the recipe files, default share/configs/bpnn.yaml
# and share/configs/mtp.yaml),
# MLIP_ACCURACY_SET: one more KEY=VALUE override for both elements (e.g.
# model.angular_shells=0 to measure the recipe without its shells).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/bin"
configs="${MLIP_ACCURACY_CONFIG:-$top/share/configs/bpnn.yaml $top/share/configs/mtp.yaml}"
: "${MLIP_MLEARN_DIR:=$top/../shared/data/mlearn}"
elements="${MLIP_ACCURACY_ELEMENTS:-Si Li}"
results="${MLIP_ACCURACY_RESULTS:-$top/bench/RESULTS.md}"
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
if [ -n "${MLIP_ACCURACY_DIR:-}" ]; then
	tmp="$MLIP_ACCURACY_DIR"
	mkdir -p "$tmp"
else
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
now() { date +%s.%N; }
echo "# mlip accuracy on mlearn (recipes: $(for c in $configs; do basename "$c"; done | tr '\n' ' ')one process, one thread)"
: > "$tmp/rows"
for cfg in $configs; do
recipe=$(basename "$cfg" .yaml)
for el in $elements; do
	ds=$(echo "$el" | tr 'A-Z' 'a-z')
	dir="$MLIP_MLEARN_DIR/$el"
	[ -f "$dir/training.json" ] || { echo "bench-accuracy: $dir/training.json: not found (set MLIP_MLEARN_DIR)" >&2; exit 1; }
	"$bin/mlip-collate" -q -c 5.5 -d "$ds" -b 2 -o "$tmp/$ds-train.mlb" "$dir/training.json"
	"$bin/mlip-collate" -q -c 5.5 -d "$ds" -o "$tmp/$ds-test.mlb" "$dir/test.json"
	run="$tmp/$recipe-$ds-run"
	rm -rf "$run"
	set --
	[ -n "${MLIP_ACCURACY_SET:-}" ] && set -- --set "$MLIP_ACCURACY_SET"
	t0=$(now)
	"$bin/mlip-train" -q -c "$cfg" -o "$run" "$@" \
		--set "model.elements=[$el]" --set "data.train=[$tmp/$ds-train.mlb]" --set data.val= \
		--set "tasks.0.datasets=[$ds]" --set "tasks.1.datasets=[$ds]" --set "tasks.2.datasets=[$ds]" \
		> "$run.jsonl"
	t1=$(now)
	"$bin/mlip-eval" -q "$run/inference_ckpt.mlip" "$tmp/$ds-test.mlb" > "$run-test.json"
	echo "$recipe $el $ds $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') $run-test.json" >> "$tmp/rows"
done
done

$py - "$tmp" "$results" "${MLIP_ACCURACY_SET:-}" <<'PYEOF'
import json, os, platform, subprocess, sys, time
tmp, results, extra = sys.argv[1:4]
GPA = 160.21766208  # eV/Å³ -> GPa
rows = []
for line in open(os.path.join(tmp, "rows")):
    recipe, el, ds, secs, path = line.split()
    m = json.load(open(path))
    g = lambda k: m["%s,%s" % (ds, k)]
    rows.append((recipe, el, m["structures"], m["atoms"],
                 1000 * g("energy,per_atom_mae"), 1000 * g("energy,per_atom_mse") ** 0.5,
                 g("forces,mae"), g("forces,rmse"), GPA * g("stress,mae"), GPA * g("stress,rmse"),
                 float(secs)))
cpu = "unknown CPU"
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip(); break
except OSError:
    pass
machine = "%s, %d cores (%s), %s; %s" % (cpu, os.cpu_count(), platform.machine(),
                                        platform.platform(terse=True),
                                        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
head = ("| recipe | element | test structures / atoms | energy MAE (meV/atom) | energy RMSE (meV/atom) "
        "| force MAE (eV/Å) | force RMSE (eV/Å) | stress MAE (GPa) | stress RMSE (GPa) | training wall time (s) |")
sep = "|" + "---|" * 10
lines = [head, sep]
for r in rows:
    lines.append("| %s | %s | %d / %d | %.2f | %.2f | %.4f | %.4f | %.3f | %.3f | %.1f |" % r)
table = "\n".join(lines)
print(table)
print("machine: " + machine)
if results == "-":
    sys.exit(0)
sec = ["## Accuracy (make bench-accuracy)", "",
       "Recipes share/configs/RECIPE.yaml%s, "
       "each trained on the whole mlearn training set of each "
       "element, one process, OMP_NUM_THREADS=1; the final model evaluated by mlip-eval on the "
       "mlearn test set (never used for tuning). Energy errors per atom; stress from the "
       "virial stress labels of the data; the training time is mlip-train's whole run "
       "(reading the streams, fitting, the optimizer phases, checkpoints)." % ("; with --set " + extra if extra else ""), "", table, "", "Machine: " + machine, ""]
old = open(results).read() if os.path.exists(results) else "# mlip benchmark results\n\n"
start = old.find("## Accuracy")
if start >= 0:  # replaced where it is, the other sections kept
    end = old.find("\n## ", start + 1)
    new = old[:start] + "\n".join(sec) + ("\n" + old[end + 1:] if end >= 0 else "")
else:
    new = old.rstrip("\n") + "\n\n" + "\n".join(sec)
open(results, "w").write(new)
print("written to " + results)
PYEOF
