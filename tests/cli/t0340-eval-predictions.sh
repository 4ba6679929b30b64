# --predictions: ASE reads the file; its energies, forces and stresses against
# the ref_* labels reproduce the summary metrics; and the predictions are the
# model's exact derivatives: finite differences of the energies mlip-eval
# writes for displaced and strained copies, in two extxyz files, give the
# forces and the stress it writes.
. tests/cli/lib.sh
have_ase || die "python3-ase is missing (make deps installs it)"
D="$TMPD"
mlip-collate -q -c 5.0 -d si --split 0.9 --seed 1 -o "$D/train.mlb" -o "$D/val.mlb" share/demo/si-train.json || die "collate"
cat > "$D/cfg.yaml" <<CFG
seed: 1
data: {train: $D/train.mlb}
model: {cutoff: 5.0, elements: [Si], hidden: [8, 8], activation: silu}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: mse, normalizer: rmsd, element_references: fit, metrics: [mae, per_atom_mae]}
  - {name: forces, property: forces, datasets: [si], loss: mse, metrics: [mae, rmse]}
  - {name: stress, property: stress, datasets: [si], loss: mse, metrics: [mae]}
optim: {lr: 0.005}
schedule: {epochs: 1}
CFG
mlip-train -q -c "$D/cfg.yaml" -o "$D/run" > /dev/null || die "training failed"
M="$D/run/inference_ckpt.mlip"

expect_status 0 mlip-eval -p "$D/pred.xyz" "$M" "$D/val.mlb"
cp "$TMPD/out" "$D/m.json"
[ -e "$D/pred.xyz.tmp" ] && die "temporary file left behind"
mlip-collate --dump "$D/val.mlb" > "$D/val.dump"
$PY - "$D/pred.xyz" "$D/val.dump" "$D/m.json" <<'PYEOF' || die "ASE and the metrics disagree"
import json, sys
import numpy as np
import ase.io
frames = ase.io.read(sys.argv[1], ":")
dump = [json.loads(l) for l in open(sys.argv[2])]
m = json.load(open(sys.argv[3]))
assert len(frames) == len(dump) == m["structures"] == 7
de, dpa, df, ds, nf = [], [], [], [], 0
for a, d in zip(frames, dump):
    n = d["natoms"]
    # the structure itself comes back exactly
    assert np.array_equal(a.get_positions().ravel(), np.array(d["positions"]))
    assert np.array_equal(a.get_cell().array.ravel(), np.array(d["cell"]))
    assert list(a.get_atomic_numbers()) == d["numbers"]
    assert a.info["dataset"] == "si"
    # reference labels, exactly as in the input
    assert a.info["ref_energy"] == d["energy"]
    assert np.array_equal(a.arrays["ref_forces"].ravel(), np.array(d["forces"]))
    ref_s = np.asarray(a.info["ref_stress"], dtype=float).reshape(3, 3, order="F")
    assert np.array_equal(ref_s.ravel(), np.array(d["stress"]))
    # predictions through ASE's calculator interface
    e = a.get_potential_energy()
    f = a.get_forces()
    s = a.get_stress(voigt=False)
    assert f.shape == (n, 3) and np.all(np.isfinite(f)) and np.abs(f).max() > 0
    de.append(abs(e - d["energy"])); dpa.append(abs(e - d["energy"]) / n)
    df.extend(np.abs(f.ravel() - np.array(d["forces"])))
    ds.extend(np.abs(s.ravel() - np.array(d["stress"])))
def close(a, b): assert abs(a - b) <= 1e-9 * abs(b), (a, b)
close(np.mean(de), m["si,energy,mae"])
close(np.mean(dpa), m["si,energy,per_atom_mae"])
close(np.mean(df), m["si,forces,mae"])
close(np.sqrt(np.mean(np.square(df))), m["si,forces,rmse"])
close(np.mean(ds), m["si,stress,mae"])
PYEOF
# --head names the head (the first by default)
mlip-eval -p "$D/pred_head.xyz" --head energy "$M" "$D/val.mlb" > /dev/null || die "--head energy"
cmp -s "$D/pred.xyz" "$D/pred_head.xyz" || die "--head energy is not the default head"

# finite differences through files: structure 0 of val.mlb displaced (one atom,
# x, y and z) and strained (xx, xy) by +h in one file and -h in the other
mlip-collate --dump --dump-format extxyz "$D/val.mlb" > "$D/val.xyz"
$PY - "$D/val.xyz" "$D/plus.xyz" "$D/minus.xyz" "$D/pred.xyz" "$D/steps.json" <<'PYEOF' || die "writing the displaced structures"
import json, sys
import numpy as np
import ase.io
base = ase.io.read(sys.argv[1], 0)
pred = ase.io.read(sys.argv[4], 0)
F = pred.get_forces()
atom = int(np.argmax(np.abs(F).max(axis=1)))    # the largest force: a small relative error is meaningful
h, eps = 1e-4, 1e-5
def frame(pos, cell):
    lines = ["%d" % len(pos), 'Lattice="%s" Properties=species:S:1:pos:R:3 pbc="T T T"'
             % " ".join(repr(float(x)) for x in cell.ravel())]
    for p in pos:
        lines.append("Si %s" % " ".join(repr(float(x)) for x in p))
    return "\n".join(lines) + "\n"
pos0, cell0 = base.get_positions(), base.get_cell().array
out = {"plus": [], "minus": []}
steps = []
for c in range(3):
    for sign, name in ((1, "plus"), (-1, "minus")):
        p = pos0.copy(); p[atom, c] = pos0[atom, c] + sign * h
        out[name].append(frame(p, cell0))
    steps.append({"kind": "force", "atom": atom, "c": c,
                  "step": (pos0[atom, c] + h) - (pos0[atom, c] - h)})
for a, b in ((0, 0), (0, 1)):
    for sign, name in ((1, "plus"), (-1, "minus")):
        e = np.eye(3); e[a, b] += sign * eps
        out[name].append(frame(pos0 @ e, cell0 @ e))
    steps.append({"kind": "stress", "a": a, "b": b, "step": 2 * eps, "volume": abs(np.linalg.det(cell0))})
open(sys.argv[2], "w").write("".join(out["plus"]))
open(sys.argv[3], "w").write("".join(out["minus"]))
json.dump(steps, open(sys.argv[5], "w"))
PYEOF
mlip-eval -q -p "$D/pred_plus.xyz" "$M" "$D/plus.xyz" > /dev/null || die "eval plus"
mlip-eval -q -p "$D/pred_minus.xyz" "$M" "$D/minus.xyz" > /dev/null || die "eval minus"
$PY - "$D/pred.xyz" "$D/pred_plus.xyz" "$D/pred_minus.xyz" "$D/steps.json" <<'PYEOF' || die "finite differences disagree with the predictions"
import json, sys
import numpy as np
import ase.io
base = ase.io.read(sys.argv[1], 0)
plus, minus = ase.io.read(sys.argv[2], ":"), ase.io.read(sys.argv[3], ":")
steps = json.load(open(sys.argv[4]))
F, S = base.get_forces(), base.get_stress(voigt=False)
assert len(plus) == len(minus) == len(steps) == 5
for p, m, st in zip(plus, minus, steps):
    dE = p.get_potential_energy() - m.get_potential_energy()
    if st["kind"] == "force":
        # the displacement as written and read back (repr round trip is exact)
        dx = p.get_positions()[st["atom"], st["c"]] - m.get_positions()[st["atom"], st["c"]]
        assert abs(dx - st["step"]) < 1e-15, (dx, st["step"])
        fd, an = -dE / dx, F[st["atom"], st["c"]]
        scale = np.linalg.norm(F[st["atom"]])        # relative to the atom's force
    else:
        fd, an = dE / (st["step"] * st["volume"]), S[st["a"], st["b"]]
        scale = np.abs(S).max()                      # relative to the stress tensor
    rel = abs(fd - an) / scale
    print("%-6s fd %.12g  predicted %.12g  rel %.2e" % (st["kind"], fd, an, rel))
    assert rel < 1e-6, (st, fd, an, rel)
PYEOF

# a molecule (no periodic axis): energy and forces, no stress
printf '3\nProperties=species:S:1:pos:R:3\nSi 0 0 0\nSi 2.3 0 0\nSi 1.1 1.9 0.2\n' > "$D/mol.xyz"
expect_status 0 mlip-eval -p "$D/mol_pred.xyz" "$M" "$D/mol.xyz"
$PY -c '
import sys, ase.io
import numpy as np
a = ase.io.read(sys.argv[1])
assert not a.pbc.any()
assert "stress" not in a.calc.results and "ref_energy" not in a.info
f = a.get_forces()
assert np.allclose(f.sum(axis=0), 0, atol=1e-10), f.sum(axis=0)   # no external force on a free molecule
' "$D/mol_pred.xyz" || die "molecule predictions"
exit 0
