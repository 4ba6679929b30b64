"""MLIPCalculator: an mlip model as an ASE calculator."""
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from .model import Model


def _voigt(s):
    # ASE's order xx, yy, zz, yz, xz, xy; the model's stress is symmetric up
    # to rounding, so the off-diagonal pairs are averaged rather than one
    # triangle being picked.
    return np.array([s[0, 0], s[1, 1], s[2, 2],
                     0.5 * (s[1, 2] + s[2, 1]), 0.5 * (s[0, 2] + s[2, 0]),
                     0.5 * (s[0, 1] + s[1, 0])])


def _fill_cell(cell, pbc, positions, margin):
    """cell with its zero non-periodic vectors replaced, or None if it has none.

    ASE leaves the cell vectors of non-periodic axes zero for slabs and wires
    (ase.build.graphene, mx2), which the library refuses as a singular cell.
    Along such an axis there are no images, so the energy and forces do not
    depend on the vector; it is filled with one perpendicular to the others,
    long enough to hold the atoms. The stress, a virial over this invented
    volume, is then not reported.
    """
    zero = [k for k in range(3) if not pbc[k] and not cell[k].any()]
    if not zero:
        return None
    cell = cell.copy()
    keep = [k for k in range(3) if k not in zero]   # never empty: an axis is periodic
    # the directions the kept vectors do not span: the last rows of V^T
    _, _, vt = np.linalg.svd(cell[keep])
    for k, u in zip(zero, vt[len(keep):]):
        x = positions @ u
        cell[k] = u * (np.ptp(x) + margin if len(x) else margin)
    if np.linalg.det(cell) < 0:
        cell[zero[0]] *= -1
    return cell


class MLIPCalculator(Calculator):
    """ASE calculator for an mlip model (inference checkpoint).

    MLIPCalculator(model, head=None, threads=None, **kwargs)

    model    the path of an inference checkpoint (RUN/inference_ckpt.mlip)
             or an open mlip.Model, which calculators may share (each
             evaluates its own head)
    head     the model head to evaluate; None: the first head, as mlip-eval
    threads  OpenMP threads per evaluation; None or 0: OMP_NUM_THREADS if
             set, else 1. Results do not depend on it.
    kwargs   passed on to ase.calculators.calculator.Calculator

    Properties: energy and free_energy (the same: the model has no
    electronic entropy), forces, energies (per atom) and, when any axis of
    the Atoms is periodic, stress (Voigt order, ASE's sign, -virial / cell
    volume, so a slab's stress counts its vacuum as ASE's do). For a finite
    system (no periodic axis) stress is not computed, and get_stress()
    raises PropertyNotImplementedError, as ASE expects; likewise for a slab
    or wire whose non-periodic cell vectors are zero (no volume), which is
    otherwise evaluated as usual.

    Per-atom energies sum to the energy: the per-structure constant of the
    head's energy normalizer (mlip.Model.energy_shift, 0 for the default
    recipe) is spread evenly over the atoms.

    The values equal mlip-eval's for the same structure. Library errors (an
    element the model does not know, atoms on top of each other, a missing
    or damaged model file) raise mlip.MLIPError with the library's message.

    Example:
        from ase.build import bulk
        from mlip import MLIPCalculator
        atoms = bulk("Si", "diamond", a=5.43, cubic=True)
        atoms.calc = MLIPCalculator("run/inference_ckpt.mlip")
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]
    default_parameters = {"head": None, "threads": None}
    name = "mlip"

    def __init__(self, model, head=None, threads=None, **kwargs):
        """Open model (a path) or share it (an mlip.Model); see the class."""
        self.model = model if isinstance(model, Model) else Model(model)
        Calculator.__init__(self, head=head, threads=threads, **kwargs)
        # set() only acts on values that differ from the defaults; apply
        # both explicitly so a shared Model is put into the state asked for.
        self.model.set_head(self.parameters.head)
        if self.parameters.threads is not None:
            self.model.set_threads(self.parameters.threads)

    def set(self, **kwargs):
        changed = Calculator.set(self, **kwargs)
        if "head" in changed:
            self.model.set_head(changed["head"])
            self.reset()
        if "threads" in changed:
            # the results do not depend on it: nothing to reset
            self.model.set_threads(changed["threads"])
        return changed

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)
        a = self.atoms
        cell = a.cell.array
        filled = None
        if a.pbc.any():
            filled = _fill_cell(cell, a.pbc, a.positions, 2 * self.model.cutoff + 1.0)
        # the head is passed every time: the Model may be shared with a
        # calculator of another head
        r = self.model.compute(a.numbers, a.positions, cell if filled is None else filled, a.pbc,
                               stress=filled is None, head=self.parameters.head or self.model.heads[0])
        n = len(a)
        e = r["energy"]
        self.results = {
            "energy": e,
            "free_energy": e,
            "forces": r["forces"],
            "energies": r["energies"] + (r["energy_shift"] / n if n else 0.0),
        }
        if r["stress"] is not None:
            self.results["stress"] = _voigt(r["stress"])
