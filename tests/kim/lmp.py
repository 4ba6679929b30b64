#!/usr/bin/python3
"""LAMMPS-side helpers of the KIM tests (tests/cli/t07*.sh).

  lmp.py prepare XYZ OUT INDEX... [--replicate NX NY NZ] [--rattle A]
      Frames INDEX of the extxyz file XYZ, each rotated into LAMMPS's
      lower-triangular cell (a along x, b in the xy plane) and wrapped into
      it, written twice with every digit: OUT_INDEX.data for read_data and
      OUT_INDEX.xyz for mlip-eval, so that both programs see bit-identical
      structures (no rotation back, whose rounding would hide in the
      comparison).
  lmp.py thermo LOG
      The last thermo line of a LAMMPS log as JSON {column: value}.
  lmp.py compare LOG DUMP PRED [--tol T]
      LAMMPS's `run 0` (thermo pe pxx pyy pzz pxy pxz pyz and the sums of
      pe/atom and stress/atom; a dump of id fx fy fz) against mlip-eval's
      predictions of the same structure: energy, every force component and
      the six pressure components to T relative (default 1e-10), relative to
      the energy, the largest force component and the largest pressure
      component. Prints the worst deviations; exit 1 on a failure.
  lmp.py compare-runs LOG1 DUMP1 LOG2 DUMP2 [--tol T]
      Two LAMMPS runs of one structure (one MPI rank and several): energy,
      forces and the six pressure components to T relative.
"""
import json
import sys

import numpy as np

# LAMMPS metal units: pressure in bar from eV/Å^3 (force->nktv2p in LAMMPS).
NKTV2P = 1.6021765e6
MASS_SI = 28.0855


def lammps_frame(cell, pos):
    """Rotate (and reflect, if the cell is left-handed) so that the cell is
    lower triangular with a positive diagonal; wrap into [0, 1) fractional."""
    q, r = np.linalg.qr(cell.T)
    d = np.sign(np.diag(r))
    d[d == 0] = 1
    q = q * d
    lcell = (d[:, None] * r).T
    # exact zeros above the diagonal: LAMMPS has no slot for them
    lcell[0, 1] = lcell[0, 2] = lcell[1, 2] = 0.0
    lpos = pos @ q
    frac = np.linalg.solve(lcell.T, lpos.T).T
    frac -= np.floor(frac)
    frac[frac >= 1.0] = 0.0
    return lcell, frac @ lcell


def write_data(path, cell, pos):
    lx, ly, lz = cell[0, 0], cell[1, 1], cell[2, 2]
    xy, xz, yz = cell[1, 0], cell[2, 0], cell[2, 1]
    with open(path, "w") as f:
        f.write("mlip KIM test structure\n\n%d atoms\n1 atom types\n\n" % len(pos))
        f.write("0 %r xlo xhi\n0 %r ylo yhi\n0 %r zlo zhi\n%r %r %r xy xz yz\n\n" %
                (lx, ly, lz, xy, xz, yz))
        f.write("Masses\n\n1 %r\n\nAtoms # atomic\n\n" % MASS_SI)
        for k, p in enumerate(pos):
            f.write("%d 1 %r %r %r\n" % (k + 1, p[0], p[1], p[2]))


def write_xyz(path, cell, pos):
    with open(path, "w") as f:
        f.write("%d\nLattice=\"%s\" Properties=species:S:1:pos:R:3 pbc=\"T T T\"\n" %
                (len(pos), " ".join(repr(float(x)) for x in cell.ravel())))
        for p in pos:
            f.write("Si %r %r %r\n" % (p[0], p[1], p[2]))


def prepare(args):
    import ase.io
    xyz, out = args[0], args[1]
    rest = args[2:]
    rep, rattle, idx = (1, 1, 1), 0.0, []
    k = 0
    while k < len(rest):
        if rest[k] == "--replicate":
            rep = tuple(int(x) for x in rest[k + 1:k + 4]); k += 4
        elif rest[k] == "--rattle":
            rattle = float(rest[k + 1]); k += 2
        else:
            idx.append(int(rest[k])); k += 1
    frames = ase.io.read(xyz, ":")
    for i in idx:
        a = frames[i] * rep
        if rattle:
            a.rattle(rattle, seed=i + 1)
        assert set(a.get_chemical_symbols()) == {"Si"}
        cell, pos = lammps_frame(a.get_cell().array, a.get_positions())
        write_data("%s_%d.data" % (out, i), cell, pos)
        write_xyz("%s_%d.xyz" % (out, i), cell, pos)


def thermo(log):
    """The last thermo row of a LAMMPS log (after the last 'Step' header)."""
    head, row = None, None
    for line in open(log):
        w = line.split()
        if w and w[0] == "Step":
            head, row = w, None
        elif head and len(w) == len(head):
            try:
                row = [float(x) for x in w]
            except ValueError:
                head = None if row is None else head
    if row is None:
        raise SystemExit("no thermo output in %s" % log)
    return dict(zip(head, row))


def read_dump(path):
    """id fx fy fz of the last snapshot of a custom dump, sorted by id."""
    lines = open(path).read().split("\n")
    start = max(i for i, l in enumerate(lines) if l.startswith("ITEM: ATOMS"))
    cols = lines[start].split()[2:]
    rows = [l.split() for l in lines[start + 1:] if l.strip()]
    data = {c: np.array([float(r[k]) for r in rows]) for k, c in enumerate(cols)}
    order = np.argsort(data["id"])
    return np.stack([data["fx"][order], data["fy"][order], data["fz"][order]], axis=1)


def compare(args):
    import ase.io
    log, dump, pred = args[:3]
    tol = float(args[args.index("--tol") + 1]) if "--tol" in args else 1e-10
    t = thermo(log)
    f_l = read_dump(dump)
    a = ase.io.read(pred)
    e = a.get_potential_energy()
    f = a.get_forces()
    s = a.get_stress(voigt=False)
    vol = abs(np.linalg.det(a.get_cell().array))
    # LAMMPS pressure (bar), kinetic part zero: P = W / V with W = -sigma V
    p = -s * NKTV2P
    p6 = np.array([p[0, 0], p[1, 1], p[2, 2], p[0, 1], p[0, 2], p[1, 2]])
    p6_l = np.array([t[k] for k in ("Pxx", "Pyy", "Pzz", "Pxy", "Pxz", "Pyz")])
    fails = []

    def check(what, got, want, scale):
        err = np.max(np.abs(np.asarray(got) - np.asarray(want))) / scale
        print("%-28s rel. deviation %.2e" % (what, err))
        if not err <= tol:
            fails.append("%s: LAMMPS %r, mlip %r (rel. %.3g > %g)" % (what, got, want, err, tol))

    check("energy", t["PotEng"], e, abs(e))
    check("sum of pe/atom", t["c_spe"], e, abs(e))
    if f_l.shape != f.shape:
        raise SystemExit("LAMMPS dumped %d atoms, mlip-eval has %d" % (len(f_l), len(f)))
    check("forces", f_l, f, max(np.abs(f).max(), 1e-300))
    pscale = np.abs(p6).max()
    check("pressure (6 components)", p6_l, p6, pscale)
    # per-atom virials (partialParticleVirial): -sum(stress/atom)/V is the pressure
    sa = -np.array([t["c_ssa[%d]" % k] for k in range(1, 7)]) / vol
    check("sum of stress/atom", sa, p6, pscale)
    if fails:
        print("\n".join(fails))
        sys.exit(1)


def compare_runs(args):
    tol = float(args[args.index("--tol") + 1]) if "--tol" in args else 1e-10
    t1, t2 = thermo(args[0]), thermo(args[2])
    f1, f2 = read_dump(args[1]), read_dump(args[3])
    if f1.shape != f2.shape:
        raise SystemExit("the runs have %d and %d atoms" % (len(f1), len(f2)))
    keys = ("Pxx", "Pyy", "Pzz", "Pxy", "Pxz", "Pyz")
    p1, p2 = np.array([t1[k] for k in keys]), np.array([t2[k] for k in keys])
    dev = {"energy": abs(t1["PotEng"] - t2["PotEng"]) / abs(t1["PotEng"]),
           "forces": np.abs(f1 - f2).max() / np.abs(f1).max(),
           "pressure": np.abs(p1 - p2).max() / np.abs(p1).max()}
    print("  ".join("%s %.2e" % kv for kv in dev.items()))
    bad = [k for k, v in dev.items() if not v <= tol]
    if bad:
        print("differ beyond %g: %s" % (tol, ", ".join(bad)))
        sys.exit(1)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "prepare":
        prepare(sys.argv[2:])
    elif cmd == "compare-runs":
        compare_runs(sys.argv[2:])
    elif cmd == "thermo":
        print(json.dumps(thermo(sys.argv[2])))
    elif cmd == "compare":
        compare(sys.argv[2:])
    else:
        raise SystemExit("unknown command " + cmd)
