#!/bin/sh
# Fine-tuning, worked through: a silicon model (share/demo's mlearn subset)
# is extended to lithium (mlearn's Li set) with a second head copied from
# the first. Runs from anywhere after `make`, in about a minute on two
# cores; writes into DIR (default ./finetune-run).
#   sh share/examples/finetune/run.sh [DIR]
# Needs mlearn's data directory (Li/training.json): MLIP_MLEARN_DIR.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
demo=$(cd "$here/../../demo" && pwd)
top=$(cd "$here/../../.." && pwd)
if [ -x "$top/bin/mlip-train" ]; then   # in the source tree; installed, PATH has them
	PATH="$top/bin:$PATH"
	MLIP_PLUGIN_PATH="${MLIP_PLUGIN_PATH:-$top/lib/plugins}"
	export PATH MLIP_PLUGIN_PATH
fi
mlearn="${MLIP_MLEARN_DIR:-$top/../shared/data/mlearn}"
if [ ! -f "$mlearn/Li/training.json" ]; then
	echo "run.sh: no $mlearn/Li/training.json; set MLIP_MLEARN_DIR to mlearn's data/ directory" >&2
	exit 2
fi
out="${1:-finetune-run}"
mkdir -p "$out"
cd "$out"

echo "-- collate silicon and lithium at 5 Å, 90 % train / 10 % validation each"
mlip-collate -q -c 5.0 -d si --split 0.9 --seed 1 -o train.mlb -o val.mlb "$demo/si-train.json"
mlip-collate -q -c 5.0 -d li --split 0.9 --seed 1 -o li-train.mlb -o li-val.mlb "$mlearn/Li/training.json"

echo "-- base model: silicon only ($here/base.yaml)"
mlip-train -q --force -c "$here/base.yaml" -o base > base.jsonl

echo "-- starting model: add Li and a head 'li' copied from 'energy'"
# Silicon's 32 default descriptor functions are pinned (adding an element would
# otherwise change them); Li-neighbour functions are appended after them: they
# are new, zero-weight inputs for silicon and, with the rest, lithium's inputs.
set -- --heads "$here/heads.yaml" --pin-descriptors --set 'model.elements=[Si, Li]'
n=32
for rs in 0.5 1.0 1.5 2.0 2.5 3.0 3.5 4.0 4.5; do
	set -- "$@" --set "model.descriptors.$n={kind: g2, elements: [Li], eta: 2.0, rs: $rs}"
	n=$((n + 1))
done
for zeta in 1 2 4; do
	for lambda in -1 1; do
		set -- "$@" --set "model.descriptors.$n={kind: g9, elements: [Li, Li], eta: 0.0, lambda: $lambda, zeta: $zeta}"
		n=$((n + 1))
	done
done
mlip-finetune-init base/inference_ckpt.mlip -o start.mlip "$@" --scaling-data li-train.mlb

echo "-- fine-tuning on silicon and lithium ($here/finetune.yaml)"
mlip-train -q --force -c "$here/finetune.yaml" -o ft > ft.jsonl

python3 - base.jsonl ft.jsonl <<'PY'
import json, sys
def vals(p): return [json.loads(l) for l in open(p) if '"val"' in l]
base, ft = vals(sys.argv[1])[-1], vals(sys.argv[2])
rows = [("Si energy, eV/atom", "val/si,energy,per_atom_mae"), ("Si forces, eV/Å", "val/si,forces,mae"),
        ("Li energy, eV/atom", "val/li,li_energy,per_atom_mae"), ("Li forces, eV/Å", "val/li,li_forces,mae")]
print("base: the base model (EMA weights); step 0: the starting model (the base's raw weights)")
print("%-20s %12s %12s %12s" % ("validation MAE", "base", "step 0", "fine-tuned"))
for name, key in rows:
    b = base.get(key)
    print("%-20s %12s %12.4f %12.4f" % (name, "%.4f" % b if b is not None else "-", ft[0][key], ft[-1][key]))
PY
