#!/usr/bin/python3
"""calculator_check.py - checks of the ASE calculator mlip.MLIPCalculator.

usage:
  calculator_check.py MODEL PRED.xyz HEADS_MODEL HEADS_PRED.xyz [CHECK...]

MODEL is an inference checkpoint of a silicon model (tests/cli/lib.sh
si_model) and PRED.xyz what `mlip-eval -p PRED.xyz MODEL test.mlb` wrote for
held-out periodic structures. HEADS_MODEL is a Si model with the heads
energy and shifted, the latter's energy normalizer a fixed mean of 3 eV (so
its mlip_energy_shift is 3), and HEADS_PRED.xyz what mlip-eval --head
shifted predicted with it for the same structures.

Runs every check, or only those named, prints one line per check with what
it measured, and exits 0 when all pass, 1 when any fails, 2 on a usage
error. The package is imported from PYTHONPATH, else from the source tree
(share/python).

Needs ase (3.22) and numpy.
"""
import os
import re
import sys
import time
import traceback

import numpy as np

try:
    import mlip
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", "share", "python"))
    import mlip
import ase.io
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from mlip import MLIPCalculator, MLIPError

MODEL = None
FRAMES = None
RAW_STRESS = None   # (3, 3) per frame: the 9 numbers mlip-eval wrote
HEADS_MODEL = None
HEADS_FRAMES = None
SHIFT = 3.0         # the shifted head's normalizer mean (t0710-ase-calculator.sh)

# Central differences err by d^2 E'''/6: with d = 1e-4 Å about 3e-8 eV/Å
# here (d = 1e-3 gives 3e-6: the d^2 law holds), the strain derivative with
# d = 1e-5 about 3e-11 eV/Å³. A wrong sign or factor errs by the size of
# the forces (0.1-2 eV/Å) or of the stress (1e-3-3e-2 eV/Å³): 1e5 times the
# bounds.
FD_STEP = 1e-4
FD_FORCE_TOL = 1e-6
FD_STRESS_TOL = 1e-8

# Velocity Verlet at 1 fs on silicon (optical period about 64 fs, some 60
# steps per period) keeps the total energy of a conservative force field
# within about 1e-4 eV/atom at 1000 K (kT = 0.086 eV): the integrator's own
# O(dt^2) fluctuation, measured at 9e-5 eV/atom for this model. Bounds: 1e-3
# eV/atom for the fluctuation (max - min), ten times that; and 1e-4 eV/atom
# for the drift over the run (a fitted line, measured below 1e-6), since a
# cutoff that is not smooth or a force that is not the energy's gradient
# shows as a drift. Forces just 5 % too large break the bounds (checked), let
# alone a wrong sign or factor.
NVE_FLUCT = 1e-3
NVE_DRIFT = 1e-4
NVE_STEPS = 500


def raw_stresses(path):
    """The stress="..." values of an extxyz file as written, before ASE's
    reader folds them into a symmetric Voigt vector."""
    out, lines, i = [], open(path).read().splitlines(), 0
    while i < len(lines):
        n = int(lines[i])
        m = re.search(r'(?:^| )stress="([^"]*)"', lines[i + 1])
        out.append(np.array(m.group(1).split(), dtype=float).reshape(3, 3, order="F") if m else None)
        i += n + 2
    return out


# Below these, forces (eV/Å) and stresses (eV/Å³) are compared as if they were
# this large: a crystal whose forces vanish by symmetry has forces of 1e-14
# that are round-off alone, and differ by round-off between two neighbour
# lists that order the same edges differently.
FORCE_SCALE, STRESS_SCALE = 1.0, 0.01


def rel_err(a, b, floor=0.0):
    """max |a - b| relative to max |b| (arrays) or |b| (scalars), or to floor if larger."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(np.abs(b).max(), floor)
    return float(np.abs(a - b).max() / scale) if scale > 0 else float(np.abs(a - b).max())


def structure(frame):
    """The structure of an extxyz frame without its calculator."""
    return Atoms(frame.numbers, positions=frame.positions, cell=frame.cell, pbc=frame.pbc)


def diamond(reps=1, a=5.43):
    return bulk("Si", "diamond", a=a, cubic=True).repeat(reps)


def expect_raise(exc, fn, what):
    """fn() must raise exc; returns the exception."""
    try:
        fn()
    except exc as e:
        return e
    raise AssertionError(what)


def check_eval_agreement():
    """Energy, forces, stress of every held-out structure equal mlip-eval's."""
    calc = MLIPCalculator(MODEL)
    worst = dict.fromkeys(("energy", "forces", "stress", "stress 3x3", "sum(energies)"), 0.0)
    for k, f in enumerate(FRAMES):
        a = structure(f)
        a.calc = calc
        e = a.get_potential_energy()
        ea = a.get_potential_energies()
        assert ea.shape == (len(a),)
        assert a.get_potential_energy(force_consistent=True) == e
        # the library's own tensor, not symmetrised, against the file's 9 numbers
        r = calc.model.compute(a.numbers, a.positions, a.cell, a.pbc)
        errs = {"energy": rel_err(e, f.get_potential_energy()),
                "forces": rel_err(a.get_forces(), f.get_forces(), FORCE_SCALE),
                "stress": rel_err(a.get_stress(), f.get_stress(), STRESS_SCALE),
                "stress 3x3": rel_err(r["stress"], RAW_STRESS[k], STRESS_SCALE),
                "sum(energies)": rel_err(ea.sum(), e)}
        for key, v in errs.items():
            worst[key] = max(worst[key], v)
            assert v <= 1e-10, "structure %d: %s differs from mlip-eval by %.3g relative" % (k, key, v)
    return "%d structures; max relative difference: %s" % (
        len(FRAMES), ", ".join("%s %.1e" % kv for kv in worst.items()))


def check_heads():
    """head= selects a head (mlip-eval --head's values), set(head=) switches,
    per-atom energies carry the head's energy shift, an unknown head raises."""
    m = mlip.Model(HEADS_MODEL)
    assert m.heads == ("energy", "shifted"), m.heads
    assert m.energy_shift == 0.0, m.energy_shift
    m.set_head("shifted")
    assert m.energy_shift == SHIFT, m.energy_shift
    calc = MLIPCalculator(HEADS_MODEL, head="shifted")
    worst = 0.0
    for k, f in enumerate(HEADS_FRAMES):
        a = structure(f)
        a.calc = calc
        e = a.get_potential_energy()
        for got, want, floor in ((e, f.get_potential_energy(), 0),
                                 (a.get_forces(), f.get_forces(), FORCE_SCALE),
                                 (a.get_stress(), f.get_stress(), STRESS_SCALE),
                                 (a.get_potential_energies().sum(), e, 0)):
            worst = max(worst, rel_err(got, want, floor))
            assert worst <= 1e-10, "structure %d: %.3g relative from mlip-eval --head shifted" % (k, worst)
        # the library's per-atom energies leave the shift out; the calculator
        # spreads it evenly over the atoms
        r = m.compute(a.numbers, a.positions, a.cell, a.pbc)
        assert abs(r["energies"].sum() + SHIFT - e) <= 1e-10 * abs(e), (r["energies"].sum(), e)
        d = a.get_potential_energies() - r["energies"]
        assert np.allclose(d, SHIFT / len(a), rtol=0, atol=1e-12), d
    # switching heads on one calculator recomputes
    a = structure(HEADS_FRAMES[0])
    a.calc = MLIPCalculator(HEADS_MODEL)
    e_first = a.get_potential_energy()
    a.calc.set(head="shifted")
    e_shifted = a.get_potential_energy()
    a.calc.set(head=None)
    assert a.get_potential_energy() == e_first
    assert rel_err(e_shifted, HEADS_FRAMES[0].get_potential_energy()) <= 1e-10
    assert abs(e_shifted - e_first) > 1.0, (e_first, e_shifted)
    # calculators sharing one Model each evaluate their own head
    shared = mlip.Model(HEADS_MODEL)
    c1, c2 = MLIPCalculator(shared, head="shifted"), MLIPCalculator(shared)
    for calc, want in ((c1, e_shifted), (c2, e_first), (c1, e_shifted)):
        b = a.copy()
        b.calc = calc
        assert b.get_potential_energy() == want, (calc.parameters.head, b.get_potential_energy(), want)
    err = expect_raise(MLIPError, lambda: MLIPCalculator(HEADS_MODEL, head="no-such-head"),
                       "an unknown head was accepted")
    assert err.status_name == "MLIP_EINVAL", err.status_name
    assert "no-such-head" in str(err) and "energy, shifted" in str(err), str(err)
    return "heads %s, shift %g eV: %d structures within %.1e relative of mlip-eval --head " \
        "shifted; unknown head: %r" % (list(m.heads), SHIFT, len(HEADS_FRAMES), worst, str(err))


def check_numerical_forces_stress():
    """Forces and stress against ASE's central finite differences of the energy."""
    out = []
    rattled = diamond()
    rattled.rattle(0.05, seed=3)
    rattled.set_cell(rattled.cell * [1.01, 0.99, 1.0], scale_atoms=True)
    smallest = min(FRAMES, key=len)
    for name, a in (("rattled diamond (8 atoms)", rattled),
                    ("held-out triclinic (%d atoms)" % len(smallest), structure(smallest))):
        calc = MLIPCalculator(MODEL)
        a.calc = calc
        f, s = a.get_forces(), a.get_stress()
        df = np.abs(f - calc.calculate_numerical_forces(a, d=FD_STEP)).max()
        ds = np.abs(s - calc.calculate_numerical_stress(a, d=1e-5)).max()
        assert np.abs(f).max() > 0.1 and np.abs(s).max() > 1e-3, "too small to test"
        assert df < FD_FORCE_TOL, "%s: forces differ from finite differences by %.3g eV/Å" % (name, df)
        assert ds < FD_STRESS_TOL, "%s: stress differs from finite differences by %.3g eV/Å³" % (name, ds)
        out.append("%s: |F| max %.3f, |ΔF| %.1e eV/Å; |σ| max %.2e, |Δσ| %.1e eV/Å³"
                   % (name, np.abs(f).max(), df, np.abs(s).max(), ds))
    return "; ".join(out)


def cluster():
    """A Si cluster: the atoms of a diamond crystal within 5.2 Å of one, rattled."""
    c = diamond(3)
    centre = c.positions[np.argmin(np.linalg.norm(c.positions - c.cell.sum(axis=0) / 2, axis=1))]
    keep = np.linalg.norm(c.positions - centre, axis=1) < 5.2
    a = Atoms(c.numbers[keep], positions=c.positions[keep] - centre)
    a.rattle(0.03, seed=5)
    return a


def check_cluster():
    """A finite cluster: forces, no stress, translation and rotation invariance."""
    a = cluster()
    assert not a.pbc.any() and a.cell.rank == 0
    calc = MLIPCalculator(MODEL)
    a.calc = calc
    e, f = a.get_potential_energy(), a.get_forces()
    expect_raise(PropertyNotImplementedError, a.get_stress, "a finite cluster has a stress")
    df = np.abs(f - calc.calculate_numerical_forces(a, d=FD_STEP)).max()
    assert df < FD_FORCE_TOL, "forces differ from finite differences by %.3g eV/Å" % df
    # no net force or torque on a free cluster
    net = np.abs(f.sum(axis=0)).max()
    torque = np.abs(np.cross(a.positions, f).sum(axis=0)).max()
    assert net < 1e-10 and torque < 1e-9, (net, torque)
    # a rigid motion leaves the energy alone; a cell without pbc is ignored
    b = a.copy()
    b.rotate(37, (1, 2, 3))
    b.translate((3.1, -7.0, 11.0))
    b.set_cell([20.0, 20.0, 20.0])
    b.calc = calc
    de = abs(b.get_potential_energy() - e)
    assert de < 1e-10 * abs(e), de
    assert abs(a.get_potential_energies().sum() - e) < 1e-10 * abs(e)
    return "%d atoms, |F| max %.3f, |ΔF| vs FD %.1e eV/Å, net force %.1e, torque %.1e, " \
        "rotated+translated ΔE %.1e eV; get_stress raises" % (len(a), np.abs(f).max(), df, net, torque, de)


def check_cells():
    """Periodic images: a cell smaller than the cutoff and its supercell agree;
    a slab (pbc T T F) does not depend on its vacuum, and with a zero c
    vector, as ASE leaves it, has the same energy and forces but no stress."""
    calc = MLIPCalculator(MODEL)
    prim = bulk("Si", "diamond", a=5.43)                    # 3.84 Å vectors < 5 Å cutoff
    prim.rattle(0.05, seed=1)
    prim.set_cell(prim.cell * [[1.02], [0.99], [1.0]], scale_atoms=True)
    sup = prim.repeat((3, 2, 2))
    prim.calc = calc
    e1, f1, s1 = prim.get_potential_energy(), prim.get_forces(), prim.get_stress()
    sup.calc = calc
    e2, f2, s2 = sup.get_potential_energy(), sup.get_forces(), sup.get_stress()
    de = abs(12 * e1 - e2) / abs(e2)
    dfo = rel_err(f2, np.tile(f1, (12, 1)))                # repeat() copies the cell block by block
    ds = rel_err(s2, s1)
    assert de < 1e-12 and dfo < 1e-10 and ds < 1e-10, (de, dfo, ds)
    slab = diamond((2, 2, 1))
    slab.rattle(0.05, seed=2)
    slab.pbc = (True, True, False)
    vac = slab.copy()
    vac.center(vacuum=7.0, axis=2)
    flat = slab.copy()
    flat.cell[2] = 0
    res = []
    for x in (slab, vac, flat):
        x.calc = calc
        res.append((x.get_potential_energy(), x.get_forces()))
    for e, f in res[1:]:
        assert abs(e - res[0][0]) < 1e-12 * abs(e) and rel_err(f, res[0][1]) < 1e-10
    # a slab's stress is -virial / cell volume, as in ASE: it scales with 1/c
    ratio = slab.get_stress()[0] / vac.get_stress()[0]
    assert abs(ratio - vac.get_volume() / slab.get_volume()) < 1e-10, ratio
    expect_raise(PropertyNotImplementedError, flat.get_stress, "a slab without a volume has a stress")
    return "2-atom cell vs its 12-fold supercell: ΔE %.1e, ΔF %.1e, Δσ %.1e relative; slab: vacuum " \
        "and a zero c vector change nothing, the zero one has no stress" % (de, dfo, ds)


def check_images_and_arrays():
    """Atoms outside the cell, any dtype or memory layout: the same numbers."""
    m = mlip.Model(MODEL)
    a = structure(FRAMES[1])
    ref = m.compute(a.numbers, a.positions, a.cell, a.pbc)
    # whole lattice vectors added to some atoms (MD leaves them unwrapped)
    p = a.positions.copy()
    p[::3] += a.cell[0] - 2 * a.cell[2]
    p[1::5] -= a.cell[1]
    r = m.compute(a.numbers, p, a.cell, a.pbc)
    de = abs(r["energy"] - ref["energy"]) / abs(ref["energy"])
    dfo = rel_err(r["forces"], ref["forces"])
    assert de < 1e-12 and dfo < 1e-10, (de, dfo)
    # int64 numbers, Fortran-ordered positions, a list cell, pbc as one bool
    r2 = m.compute(a.numbers.astype(np.int64), np.asfortranarray(a.positions), a.cell.tolist(), True)
    for k in ("energy", "forces", "stress", "virial", "energies"):
        assert np.array_equal(r2[k], ref[k]), k
    # the library's per-atom energies sum to the energy less the shift
    s = ref["energies"].sum() + ref["energy_shift"]
    assert abs(s - ref["energy"]) < 1e-10 * abs(ref["energy"]), (s, ref["energy"])
    # the virial is -V sigma
    dv = rel_err(ref["virial"], -a.get_volume() * ref["stress"])
    assert dv < 1e-10, dv
    expect_raise(ValueError, lambda: m.compute([14, 14], np.zeros((3, 3)), a.cell, True),
                 "mismatched shapes were accepted")
    expect_raise(ValueError, lambda: m.compute([14], np.zeros((1, 3)), None, True),
                 "a periodic structure without a cell was accepted")
    return "unwrapped images: ΔE %.1e, ΔF %.1e relative; int64 / Fortran-order inputs identical; " \
        "virial = -Vσ to %.1e" % (de, dfo, dv)


def check_bfgs():
    """BFGS relaxes a rattled diamond cell to fmax < 0.01 and lowers the energy."""
    a = diamond()
    a.rattle(0.1, seed=7)
    a.calc = MLIPCalculator(MODEL)
    e0, f0 = a.get_potential_energy(), np.linalg.norm(a.get_forces(), axis=1).max()
    opt = BFGS(a, logfile=None)
    converged = opt.run(fmax=0.01, steps=200)
    e1, f1 = a.get_potential_energy(), np.linalg.norm(a.get_forces(), axis=1).max()
    assert converged and f1 < 0.01, "not converged: fmax %.3g after %d steps" % (f1, opt.nsteps)
    assert e1 < e0 - 0.1, (e0, e1)
    # relaxed back to diamond: every atom has 4 neighbours at the bond length
    d = a.get_all_distances(mic=True)
    nn = ((d > 0) & (d < 2.6)).sum(axis=1)
    assert (nn == 4).all(), nn
    return "%d steps: E %.5f -> %.5f eV, fmax %.3f -> %.4f eV/Å" % (opt.nsteps, e0, e1, f0, f1)


class _ScaledForces(MLIPCalculator):
    """Forces 5 % too large: an MD run that must break the energy bounds."""

    def calculate(self, *args, **kwargs):
        MLIPCalculator.calculate(self, *args, **kwargs)
        self.results["forces"] = 1.05 * self.results["forces"]


def nve(calc_cls, steps):
    """(drift, max - min) of the total energy per atom, final temperature."""
    a = diamond(2)
    a.calc = calc_cls(MODEL)
    MaxwellBoltzmannDistribution(a, temperature_K=1000, rng=np.random.default_rng(11))
    Stationary(a)
    md = VelocityVerlet(a, timestep=1.0 * units.fs, logfile=None)
    etot = []
    md.attach(lambda: etot.append(a.get_total_energy()), interval=1)
    md.run(steps)
    etot = np.array(etot) / len(a)
    t = np.arange(len(etot))
    drift = np.polyfit(t, etot, 1)[0] * (len(etot) - 1)
    return drift, etot.max() - etot.min(), a.get_temperature()


def check_nve():
    """Velocity-Verlet NVE on 64 atoms from 1000 K conserves the total energy."""
    drift, spread, temp = nve(MLIPCalculator, NVE_STEPS)
    # equipartition: about half the initial kinetic energy goes into the potential
    assert 300 < temp < 800, "temperature %.0f K: the run did not settle near 500 K" % temp
    assert abs(drift) < NVE_DRIFT and spread < NVE_FLUCT, \
        "drift %.2e, fluctuation %.2e eV/atom (bounds %.0e, %.0e)" % (drift, spread, NVE_DRIFT, NVE_FLUCT)
    bad_drift, bad_spread, _ = nve(_ScaledForces, NVE_STEPS)
    assert abs(bad_drift) > NVE_DRIFT or bad_spread > NVE_FLUCT, (bad_drift, bad_spread)
    return "64 atoms, %d steps of 1 fs from 1000 K (final %.0f K): drift %.1e, max-min %.1e eV/atom " \
        "(bounds %.0e, %.0e); forces x1.05 instead: drift %.1e, max-min %.1e" % (
            NVE_STEPS, temp, drift, spread, NVE_DRIFT, NVE_FLUCT, bad_drift, bad_spread)


def check_errors():
    """Library errors reach Python with the library's message."""
    a = diamond()
    a.numbers[3] = 6                                     # carbon: not in a Si model
    a.calc = MLIPCalculator(MODEL)
    err = expect_raise(MLIPError, a.get_potential_energy, "carbon was accepted by a silicon model")
    unknown = str(err)
    assert err.status_name == "MLIP_EDATA", err.status_name
    assert "element 'C'" in unknown, unknown
    # the handle is still good after a failure
    b = diamond()
    b.calc = a.calc
    assert np.isfinite(b.get_potential_energy())
    missing = os.path.join(os.path.dirname(os.path.abspath(MODEL)), "no-such-model.mlip")
    err = expect_raise(MLIPError, lambda: MLIPCalculator(missing), "a missing model file was accepted")
    nofile = str(err)
    assert missing in nofile and err.status_name == "MLIP_EIO", (nofile, err.status_name)
    # not a model: the message names the file too
    err = expect_raise(MLIPError, lambda: mlip.Model(os.path.abspath(__file__)), "a script was opened as a model")
    assert os.path.abspath(__file__) in str(err), str(err)
    # atoms on top of each other; a position that is not finite
    c = diamond()
    c.positions[1] = c.positions[0]
    c.calc = MLIPCalculator(MODEL)
    overlap = str(expect_raise(MLIPError, c.get_forces, "two atoms at one place were accepted"))
    c = diamond()
    c.positions[2, 1] = np.nan
    c.calc = MLIPCalculator(MODEL)
    nan = str(expect_raise(MLIPError, c.get_forces, "a NaN position was accepted"))
    assert "finite" in nan, nan
    return "unknown element: %r; missing file: %r; overlap: %r; NaN: %r" % (unknown, nofile, overlap, nan)


def check_threads():
    """threads=2 gives results identical to one thread."""
    one, two = MLIPCalculator(MODEL, threads=1), MLIPCalculator(MODEL, threads=2)
    big = diamond(3)
    big.rattle(0.05, seed=1)
    n = 0
    for a in [structure(f) for f in FRAMES] + [big]:
        r = []
        for calc in (one, two):
            a.calc = calc
            r.append((a.get_potential_energy(), a.get_forces(), a.get_stress(), a.get_potential_energies()))
        for x, y, what in zip(r[0], r[1], ("energy", "forces", "stress", "energies")):
            assert np.array_equal(x, y), "%s differs with 2 threads (%.3g)" % (what, np.abs(x - y).max())
        n += 1
    return "%d structures (up to %d atoms): bit-identical" % (n, len(big))


CHECKS = [check_eval_agreement, check_heads, check_numerical_forces_stress, check_cluster,
          check_cells, check_images_and_arrays, check_bfgs, check_nve, check_errors, check_threads]


def main(argv):
    global MODEL, FRAMES, RAW_STRESS, HEADS_MODEL, HEADS_FRAMES
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    names = argv[5:]
    chosen = [c for c in CHECKS if not names or c.__name__[len("check_"):] in names]
    if len(chosen) != len(names or CHECKS):
        print("calculator_check.py: unknown check in %s; checks: %s" % (
            names, " ".join(c.__name__[len("check_"):] for c in CHECKS)), file=sys.stderr)
        return 2
    MODEL, HEADS_MODEL = argv[1], argv[3]
    FRAMES, HEADS_FRAMES = ase.io.read(argv[2], ":"), ase.io.read(argv[4], ":")
    RAW_STRESS = raw_stresses(argv[2])
    assert len(RAW_STRESS) == len(FRAMES) and len(HEADS_FRAMES) == len(FRAMES)
    print("mlip %s from %s" % (mlip.version(), mlip.library_path()))
    failed = 0
    for c in chosen:
        t0 = time.time()
        try:
            what = c()
            print("ok   %-24s %s (%.1f s)" % (c.__name__[len("check_"):], what, time.time() - t0))
        except Exception:
            failed += 1
            print("FAIL %-24s %s" % (c.__name__[len("check_"):], c.__doc__.split("\n")[0]))
            traceback.print_exc(file=sys.stdout)
    print("%d checks, %d failed" % (len(chosen), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
