#!/usr/bin/python3
"""ase_check.py - the ASE side of mlip's extxyz compatibility tests.

usage:
  ase_check.py write DIR
      Write extxyz files made by ASE into DIR/*.xyz, and DIR/reference.json
      with the exact values ASE reads back from them (ASE writes positions and
      forces with %16.8f, so the reference is what ase.io.read returns, not
      the numbers the atoms were made with).

  ase_check.py check-xyz FILE REFERENCE.json [--ref-labels] [NAME...]
      Read FILE (extxyz written by mlip) with ASE and compare every number,
      bit for bit, to the reference frames: all of them in reference order, or
      only those of the sample files NAME... in the order given. With
      --ref-labels the labels are taken from ref_energy, ref_stress and
      ref_forces (mlip's prediction files) instead of energy, stress, forces.
      Exit 0 when everything matches, 1 with a message naming the frame and
      the first differing value, 2 on a usage error.

Needs ase (3.22) and numpy.
"""
import json
import os
import sys

import numpy as np
from ase import Atoms
import ase.io
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms


def _calc(atoms, **results):
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def _molecule(rng):
    # Ethanol-like, non-periodic, no cell: energy and forces.
    pos = np.array([[0.0, 0.0, 0.0], [1.52, 0.0, 0.0], [2.0, 1.35, 0.0],
                    [-0.39, 1.03, 0.0], [-0.39, -0.51, 0.89],
                    [-0.39, -0.51, -0.89], [1.9, -0.52, 0.89],
                    [1.9, -0.52, -0.89], [2.95, 1.3, 0.1]])
    pos += 0.05 * rng.standard_normal(pos.shape)
    a = Atoms('C2OH6', positions=pos)
    return _calc(a, energy=-1042.123456789012345 + rng.standard_normal(),
                 forces=rng.standard_normal((len(a), 3)))


def _triclinic(rng, n):
    cell = np.array([[5.43, 0.0, 0.0], [1.2, 5.1, 0.0], [0.7, -0.9, 4.8]])
    cell += 0.1 * rng.standard_normal((3, 3))
    a = Atoms('Si%d' % n, scaled_positions=rng.random((n, 3)), cell=cell,
              pbc=True)
    s = 0.01 * rng.standard_normal(6)
    return _calc(a, energy=-5.4 * n + rng.standard_normal(),
                 forces=rng.standard_normal((n, 3)), stress=s)


def _fixed(rng):
    cell = np.diag([7.5, 7.5, 20.0])
    cell[1, 0] = 3.75
    a = Atoms('Cu8', scaled_positions=rng.random((8, 3)) * [1, 1, 0.3],
              cell=cell, pbc=[True, True, False])
    a.set_constraint(FixAtoms(indices=[0, 2, 3]))
    return _calc(a, energy=-29.5 + rng.standard_normal(),
                 forces=rng.standard_normal((8, 3)))


def _labels(rng):
    # Every label, mixed pbc, and extra info keys and columns ASE makes.
    cell = np.array([[4.1, 0.2, -0.1], [0.3, 3.9, 0.4], [-0.2, 0.1, 6.2]])
    a = Atoms('Li3FeO4', scaled_positions=rng.random((8, 3)), cell=cell,
              pbc=[True, False, True])
    a.set_initial_magnetic_moments(rng.random(8))
    a.set_tags(np.arange(8))
    a.info['config_type'] = 'md step'
    a.info['step'] = 7
    a.info['converged'] = True
    a.info['temperature'] = 300.5
    return _calc(a, energy=-40.0 + rng.standard_normal(),
                 forces=rng.standard_normal((8, 3)),
                 stress=0.02 * rng.standard_normal(6))


def _free_energy(rng):
    a = Atoms('LiH', positions=[[0, 0, 0], [1.6, 0.1, 0.0]],
              cell=np.diag([6.0, 6.0, 6.0]), pbc=True)
    return _calc(a, free_energy=-6.1234567890123456 + rng.standard_normal())


def _dataset(rng):
    a = Atoms('Li2', positions=[[0, 0, 0], [1.5, 1.4, 1.3]],
              cell=[[3.0, 0, 0], [0, 3.0, 0], [1.5, 1.5, 1.5]], pbc=True)
    a.info['dataset'] = 'li bulk'
    return _calc(a, energy=-3.75 + rng.standard_normal(),
                 forces=rng.standard_normal((2, 3)))


def _record(atoms, name, index):
    calc = atoms.calc
    res = calc.results if calc is not None else {}
    energy = res.get('energy', res.get('free_energy'))
    fixed = []
    for c in atoms.constraints:
        if isinstance(c, FixAtoms):
            fixed.extend(int(i) for i in c.index)
    ds = atoms.info.get('dataset')
    return {
        'file': name,
        'index': index,
        'numbers': [int(z) for z in atoms.numbers],
        'positions': atoms.positions.tolist(),
        'cell': np.array(atoms.cell).tolist(),
        'pbc': [bool(p) for p in atoms.pbc],
        'energy': None if energy is None else float(energy),
        'forces': None if res.get('forces') is None
        else np.asarray(res['forces'], float).tolist(),
        'stress': None if res.get('stress') is None
        else np.asarray(res['stress'], float).tolist(),
        'fixed': sorted(fixed),
        'dataset': None if ds is None else str(ds),
    }


def write_samples(outdir):
    rng = np.random.default_rng(20240611)
    os.makedirs(outdir, exist_ok=True)
    samples = [
        ('molecule.xyz', [_molecule(rng)], None),
        ('triclinic.xyz', [_triclinic(rng, 8), _triclinic(rng, 5)], None),
        # ASE 3.22 writes move_mask (FixAtoms) only when the column is asked for.
        ('fixed.xyz', [_fixed(rng)], ['symbols', 'positions', 'move_mask']),
        ('labels.xyz', [_labels(rng)], None),
        ('free_energy.xyz', [_free_energy(rng)], None),
        ('dataset.xyz', [_dataset(rng)], None),
    ]
    frames = []
    for name, images, columns in samples:
        path = os.path.join(outdir, name)
        ase.io.write(path, images, format='extxyz', columns=columns)
        back = ase.io.read(path, index=':', format='extxyz')
        if len(back) != len(images):
            sys.exit('ase_check.py: %s: wrote %d frames, read %d'
                     % (path, len(images), len(back)))
        for k, atoms in enumerate(back):
            frames.append(_record(atoms, name, k))
    with open(os.path.join(outdir, 'reference.json'), 'w') as f:
        json.dump({'frames': frames}, f, indent=1)
        f.write('\n')


def _bits(x):
    return np.asarray(x, dtype=np.float64).reshape(-1).view(np.int64)


class Mismatch(Exception):
    pass


def _same(what, got, want):
    if want is None or got is None:
        if (want is None) != (got is None):
            raise Mismatch('%s: %s, expected %s' % (
                what, 'absent' if got is None else 'present',
                'absent' if want is None else 'present'))
        return
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    if g.shape != w.shape:
        raise Mismatch('%s: shape %s, expected %s' % (what, g.shape, w.shape))
    bad = np.nonzero(_bits(g) != _bits(w))[0]
    if len(bad):
        k = bad[0]
        idx = np.unravel_index(k, w.shape) if w.shape else ()
        raise Mismatch('%s%s = %r, expected %r' % (
            what, list(int(i) for i in idx) if idx else '',
            float(g.reshape(-1)[k]), float(w.reshape(-1)[k])))


def _voigt_from_9(v):
    m = np.asarray(v, dtype=np.float64).reshape((3, 3), order='F')
    return np.array([m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1]])


def _compare(atoms, want, ref_labels):
    if [int(z) for z in atoms.numbers] != want['numbers']:
        raise Mismatch('numbers = %s, expected %s'
                       % (list(atoms.numbers), want['numbers']))
    _same('positions', atoms.positions, want['positions'])
    _same('cell', np.array(atoms.cell), want['cell'])
    if [bool(p) for p in atoms.pbc] != want['pbc']:
        raise Mismatch('pbc = %s, expected %s' % (list(atoms.pbc), want['pbc']))
    if ref_labels:
        energy = atoms.info.get('ref_energy')
        stress = atoms.info.get('ref_stress')
        if stress is not None:
            stress = _voigt_from_9(stress)
        forces = atoms.arrays.get('ref_forces')
    else:
        res = atoms.calc.results if atoms.calc is not None else {}
        energy = res.get('energy', res.get('free_energy'))
        stress = res.get('stress')
        forces = res.get('forces')
    _same('energy', energy, want['energy'])
    _same('forces', forces, want['forces'])
    _same('stress', stress, want['stress'])
    fixed = []
    for c in atoms.constraints:
        if isinstance(c, FixAtoms):
            fixed.extend(int(i) for i in c.index)
    if sorted(fixed) != want['fixed']:
        raise Mismatch('fixed atoms %s, expected %s' % (sorted(fixed), want['fixed']))
    if want['dataset'] is not None:
        ds = atoms.info.get('dataset')
        if ds is None or str(ds) != want['dataset']:
            raise Mismatch('dataset %r, expected %r' % (ds, want['dataset']))


def check_xyz(path, refpath, ref_labels, names):
    with open(refpath) as f:
        ref = json.load(f)['frames']
    if names:
        known = {r['file'] for r in ref}
        for n in names:
            if n not in known:
                print('ase_check.py: %s: no sample file %r' % (refpath, n),
                      file=sys.stderr)
                return 2
        want = [r for n in names for r in ref if r['file'] == n]
    else:
        want = ref
    try:
        got = ase.io.read(path, index=':', format='extxyz')
    except Exception as e:  # ASE raises many kinds
        print('ase_check.py: %s: ASE cannot read it: %s' % (path, e),
              file=sys.stderr)
        return 1
    if len(got) != len(want):
        print('ase_check.py: %s: %d frames, expected %d'
              % (path, len(got), len(want)), file=sys.stderr)
        return 1
    for k, (atoms, w) in enumerate(zip(got, want)):
        try:
            _compare(atoms, w, ref_labels)
        except Mismatch as e:
            print('ase_check.py: %s: frame %d (%s frame %d): %s'
                  % (path, k, w['file'], w['index'], e), file=sys.stderr)
            return 1
    print('ase_check.py: %s: %d frames match' % (path, len(got)))
    return 0


def main(argv):
    usage = __doc__[__doc__.index('usage:'):].rstrip()
    if len(argv) == 3 and argv[1] == 'write':
        write_samples(argv[2])
        return 0
    if len(argv) >= 4 and argv[1] == 'check-xyz':
        rest = argv[4:]
        ref_labels = '--ref-labels' in rest
        names = [a for a in rest if a != '--ref-labels']
        return check_xyz(argv[2], argv[3], ref_labels, names)
    print(usage, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
