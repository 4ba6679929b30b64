#!/usr/bin/env python3
"""synth.py - small synthetic structures for the oracle tests (t0500, t0505), as extxyz.

  synth.py OUTDIR
writes
  OUTDIR/syn_train.xyz  Si–C structures with energy, forces and stress labels from
                        a smooth Morse pair potential (so a few training steps give
                        non-trivial weights): triclinic cells of varied composition,
                        one slab (pbc T T F, no stress) and one cluster (no cell);
  OUTDIR/syn_eval.xyz   Si–C structures to compare on: a triclinic cell with atoms
                        outside it, a thin cell (one perpendicular width 2.1 Å,
                        below every cutoff), a slab and a cluster;
  OUTDIR/si_eval.xyz    the same four geometries with silicon only.
Deterministic (numpy seed). Labels are computed with torch autograd (forces
−∂E/∂r, stress (1/V) ∂E/∂ε), using the neighbour list of bench/peers/torch_bpnn.py.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "peers"))
import torch_bpnn as tb  # noqa: E402

SI, C = 14, 6
R0 = {(SI, SI): 2.35, (SI, C): 1.9, (C, C): 1.55}
RCUT = 4.0


def morse_labels(st):
    """Energy, forces, stress of a Morse pair potential with a cosine cutoff."""
    i, j, n = tb.neighbour_list(st.positions, st.cell, st.pbc, RCUT)
    pos = torch.tensor(st.positions, requires_grad=True)
    eps = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    r = pos[j] - pos[i] + torch.tensor(n.astype(np.float64) @ st.cell)
    r = r + r @ eps
    R = torch.linalg.norm(r, dim=1)
    zi, zj = st.numbers[i], st.numbers[j]
    r0 = torch.tensor([R0[tuple(sorted((a, b), reverse=True))] for a, b in zip(zi, zj)])
    x = torch.exp(-1.4 * (R - r0))
    phi = 0.8 * (x * x - 2 * x) * 0.5 * (torch.cos(np.pi * R / RCUT) + 1)
    e = 0.5 * phi.sum() - 3.0 * float((st.numbers == SI).sum()) - 4.5 * float((st.numbers == C).sum())
    gpos, geps = torch.autograd.grad(e, [pos, eps])
    vol = st.volume()
    stress = geps.numpy() / vol if vol > 0 and st.pbc.all() else None
    return float(e), -gpos.numpy(), stress


def place(rng, numbers, cell, pbc, box_lo, box_hi, dmin=1.7):
    """Random positions (Cartesian, in a box) with every image pair at least dmin apart."""
    pos = np.zeros((0, 3))
    for _ in numbers:
        for _try in range(2000):
            p = rng.uniform(box_lo, box_hi)
            trial = np.vstack([pos, p])
            st = tb.Structure(np.zeros(len(trial), dtype=int) + 1, trial, cell, pbc)
            if len(trial) == 1 and not pbc.any():
                pos = trial
                break
            i, _, _ = tb.neighbour_list(trial, cell, pbc, dmin)
            if len(i) == 0:
                pos = trial
                break
        else:
            raise RuntimeError("could not place atoms")
    return pos


def fmt(v):
    return repr(float(v))


def write_xyz(path, structs, labels):
    with open(path, "w") as f:
        for st, lab in zip(structs, labels):
            f.write(f"{len(st.numbers)}\n")
            info = []
            if st.pbc.any():
                info.append('Lattice="' + " ".join(fmt(v) for v in st.cell.ravel()) + '"')
            props = "species:S:1:pos:R:3"
            if lab:
                e, forces, stress = lab
                props += ":forces:R:3"
                info.append(f"energy={fmt(e)}")
                if stress is not None:
                    # 9 values column-major, as ASE writes them
                    info.append('stress="' + " ".join(fmt(v) for v in stress.T.ravel()) + '"')
            info.insert(0, f"Properties={props}")
            if st.pbc.any():
                info.append('pbc="' + " ".join("T" if p else "F" for p in st.pbc) + '"')
            f.write(" ".join(info) + "\n")
            for k, z in enumerate(st.numbers):
                row = [tb.SYMBOLS[z]] + [fmt(v) for v in st.positions[k]]
                if lab:
                    row += [fmt(v) for v in lab[1][k]]
                f.write(" ".join(row) + "\n")


def eval_set(rng, species):
    """Triclinic (atoms partly outside the cell), thin, slab, cluster."""
    out = []
    tri = np.array([[5.1, 0.0, 0.0], [1.3, 4.8, 0.0], [0.7, -0.9, 5.3]])
    nums = rng.choice(species, 7)
    pos = place(rng, nums, tri, np.array([True] * 3), [-1.0, -1.0, -1.0], [6.5, 5.0, 5.5])
    out.append(tb.Structure(nums, pos, tri, (True, True, True)))
    thin = np.array([[4.2, 0.0, 0.0], [0.4, 3.9, 0.0], [0.3, 0.2, 2.1]])
    nums = rng.choice(species, 3)
    pos = place(rng, nums, thin, np.array([True] * 3), [0, 0, 0], [4.4, 4.0, 2.1])
    out.append(tb.Structure(nums, pos, thin, (True, True, True)))
    slab = np.array([[4.5, 0.0, 0.0], [0.6, 4.6, 0.0], [0.0, 0.0, 15.0]])
    nums = rng.choice(species, 6)
    pos = place(rng, nums, slab, np.array([True, True, False]), [0, 0, 5.0], [5.0, 4.6, 9.0])
    out.append(tb.Structure(nums, pos, slab, (True, True, False)))
    nums = rng.choice(species, 6)
    pos = place(rng, nums, np.zeros((3, 3)), np.array([False] * 3), [0, 0, 0], [4.0, 4.0, 4.0])
    out.append(tb.Structure(nums, pos, None, (False, False, False)))
    return out


def main():
    outdir = sys.argv[1]
    rng = np.random.default_rng(20241129)
    train = []
    for k in range(14):
        a = rng.uniform(4.6, 6.0)
        cell = np.diag([a, a * rng.uniform(0.9, 1.1), a * rng.uniform(0.9, 1.1)])
        cell[1, 0], cell[2, 0], cell[2, 1] = rng.uniform(-0.8, 0.8, 3)
        n = int(rng.integers(4, 9))
        nums = rng.choice([SI, C], n, p=[0.3 + 0.4 * (k % 2), 0.7 - 0.4 * (k % 2)])
        pos = place(rng, nums, cell, np.array([True] * 3), [0, 0, 0], cell.sum(0))
        train.append(tb.Structure(nums, pos, cell, (True, True, True)))
    train += eval_set(rng, [SI, C])[2:]       # a slab and a cluster (energy, forces)
    write_xyz(os.path.join(outdir, "syn_train.xyz"), train, [morse_labels(st) for st in train])
    write_xyz(os.path.join(outdir, "syn_eval.xyz"), eval_set(rng, [SI, C]), [None] * 4)
    write_xyz(os.path.join(outdir, "si_eval.xyz"), eval_set(rng, [SI]), [None] * 4)


if __name__ == "__main__":
    main()
