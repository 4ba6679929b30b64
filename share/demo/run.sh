#!/bin/sh
# make demo: the bundled mlearn Si subset through the whole mlip pipeline:
# collate -> train (about 15 s on two cores: AdamW, then L-BFGS) -> convert -> evaluate
# on held-out structures, with a short parity summary -> a short MD run with the
# model (ASE, through libmlip). Output in demo-run/.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
bin="$top/bin"
out="${MLIP_DEMO_DIR:-$top/demo-run}"
data="$top/share/demo"
cfg="$top/share/configs/demo.yaml"
ranks="${MLIP_DEMO_RANKS:-2}"
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
rm -rf "$out"
mkdir -p "$out"
export PATH="$bin:$PATH"

echo "== mlip demo: silicon (mlearn, DFT PBE); everything goes to $out"
echo
echo "-- 1. collate: neighbour lists at 5.5 Å; 90 % train / 10 % validation; the test set apart"
mlip-collate -c 5.5 -d si -b 4 --split 0.9 --seed 1 -o "$out/train.mlb" -o "$out/val.mlb" "$data/si-train.json"
mlip-collate -c 5.5 -d si -o "$out/test.mlb" "$data/si-test.json"

echo
echo "-- 2. train ($cfg) on $ranks MPI ranks; metrics as JSON Lines in $out/metrics.jsonl"
# MPICH's own launcher: on Debian, installing Open MPI (lammps pulls it in) takes over `mpiexec`.
mpiexec=mpiexec.mpich
command -v "$mpiexec" >/dev/null 2>&1 || mpiexec=mpiexec
run() { if [ "$ranks" -gt 1 ] && command -v "$mpiexec" >/dev/null 2>&1; then "$mpiexec" -n "$ranks" "$@"; else "$@"; fi; }
start=$(date +%s)
run mlip-train -c "$cfg" -o "$out/run" --set "data.train=[$out/train.mlb]" --set "data.val=[$out/val.mlb]" \
	> "$out/metrics.jsonl"
echo "   trained in $(( $(date +%s) - start )) s; validation errors along the way:"
$py - "$out/metrics.jsonl" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
val = [r for r in rows if r["type"] == "val"]
adam = [r for r in val if r.get("optimizer") != "lbfgs"]
after = [r for r in val if r.get("optimizer") == "lbfgs"]
adam_end = adam[-1]["step"] if adam else 0
step = max(1, len(adam) // 8)
shown = adam[::step] + ([adam[-1]] if (len(adam) - 1) % step else [])
for r in shown + after:
    what = ("epoch %5.0f" % r["epoch"]) if r in adam else ("+%d L-BFGS steps" % (r["step"] - adam_end))
    print("   %-17s energy %7.2f meV/atom  forces %.4f eV/Å" % (
        what, 1000 * r["val/si,energy,per_atom_mae"], r["val/si,forces,mae"]))
PYEOF

echo
echo "-- 3. convert the final training checkpoint (shards of $ranks ranks) to one model file"
mlip-ckpt-convert "$out/run/checkpoints/final" "$out/model.mlip"
cmp -s "$out/model.mlip" "$out/run/inference_ckpt.mlip" && echo "   identical to the model mlip-train wrote"

echo
echo "-- 4. evaluate on the 25 held-out structures (EMA weights)"
mlip-eval -q -p "$out/test-predictions.xyz" "$out/model.mlip" "$out/test.mlb" > "$out/test-metrics.json"
$py - "$out/test-metrics.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
print("   %d structures, %d atoms, %.0f atoms/s" % (m["structures"], m["atoms"], m["atoms_per_s"]))
print("   energy  MAE %.2f meV/atom   RMSE %.3f eV" % (1000 * m["si,energy,per_atom_mae"], m["si,energy,rmse"]))
print("   forces  MAE %.4f eV/Å     RMSE %.4f eV/Å   cosine %.4f" % (
    m["si,forces,mae"], m["si,forces,rmse"], m["si,forces,cosine_similarity"]))
print("   stress  MAE %.3f GPa" % (160.21766208 * m["si,stress,mae"]))
PYEOF

echo
echo "-- 5. parity (predictions with the DFT labels: $out/test-predictions.xyz)"
$py "$data/parity.py" "$out/test-predictions.xyz" | sed 's/^/   /'
mlip-plot curve -o "$out/curve.svg" "$out/metrics.jsonl"
mlip-plot parity -o "$out/parity.svg" "$out/test-predictions.xyz"
echo "   pictures: $out/curve.svg (learning curve), $out/parity.svg (parity plots)"
echo
echo "-- 6. molecular dynamics with the model (libmlip through the ASE calculator): 64 Si atoms,"
echo "   500 fs of NVE from 1000 K after a BFGS relaxation; the total energy should stay put"
PYTHONPATH="$top/share/python${PYTHONPATH:+:$PYTHONPATH}" $py - "$out/model.mlip" <<'PYEOF'
import sys
import numpy as np
from ase import units
from ase.build import bulk
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from mlip import MLIPCalculator

atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
atoms.calc = MLIPCalculator(sys.argv[1])
atoms.rattle(0.05, seed=1)
BFGS(atoms, logfile=None).run(fmax=0.01)
a = (atoms.get_volume() / 64 * 8) ** (1 / 3)
print("   relaxed: %.4f eV/atom, stress %.3f GPa (cell kept at a = %.3f Å)" % (
    atoms.get_potential_energy() / 64, -atoms.get_stress()[:3].mean() * 160.21766208, a))
MaxwellBoltzmannDistribution(atoms, temperature_K=1000, rng=np.random.default_rng(1))
md = VelocityVerlet(atoms, timestep=1 * units.fs)
e = []
for _ in range(10):
    md.run(50)
    e.append(atoms.get_total_energy() / 64)
print("   NVE: T = %.0f K after 500 fs; total energy per atom %.5f eV, spread %.1e eV" % (
    atoms.get_temperature(), e[-1], max(e) - min(e)))
PYEOF
echo
echo "Next: man mlip (or man -l man/man7/mlip.7); README's 'Running MD' runs the model in LAMMPS"
echo "and ASE; share/examples/ holds a Makefile experiment, a cron job and a fine-tuning example."
