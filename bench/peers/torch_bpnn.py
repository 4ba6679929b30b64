#!/usr/bin/env python3
"""torch_bpnn.py - an independent PyTorch implementation of mlip's BPNN.

It reads an mlip inference checkpoint (mlip-ckpt(5)) with struct and numpy
only, builds the model of /work/shared/design/MODEL.md in torch and computes
energies, forces (autograd), stresses (autograd with respect to a homogeneous
strain of positions and cell) and, for a loss mixing energy, force and stress
terms, every parameter gradient (double backward). Nothing here calls or
ports mlip code: the neighbour list, the symmetry functions and the network
are written from the model definition. A model on the moment tensor basis
(model.descriptor.type mtp) is evaluated by torch_mtp.MTP, this network on
that basis (model_for picks the class).

Subcommands
  compare [--tol T] [--fd] [--weights primary|raw|ema] CKPT DUMP [CKPT DUMP ...]
      check mlip against torch: DUMP is the JSON of tests/oracle/oracle_dump
      for CKPT (its structures, mlip's outputs and the loss coefficients).
      Prints the norm-relative difference of every array, the worst per
      quantity, and exits 1 if any is above T (default 1e-10).
  train --ckpt CKPT --data FILE.json [--dtype float64|float32]... [--threads N]...
        [--batch-size 8] [--warmup 2] [--epochs 1] [--lr 1e-3]
      the throughput peer: AdamW on energy + forces + stress losses over
      batches of consecutive mlearn structures (as mlip-collate -b makes
      them); for each precision and thread count a fresh model from CKPT is
      trained and one JSON line gives atoms/s over the timed epochs (data
      loading, neighbour lists and the warm-up steps excluded).

Conventions (MODEL.md, lib/descriptor.h, lib/tasks.h):
  r_ij = r_j + n·H − r_i, every image with 0 < |r_ij| < cutoff;
  f_c(R) = ½(cos(πR/r_c) + 1) for R < r_c, each function with its own r_c;
  G2 = Σ_{j: Z_j = z1} exp(−η(R_ij − r_s)²) f_c(R_ij);
  G9 = 2^{1−ζ} Σ_{j<k, {Z_j,Z_k} = {z1,z2}} (1 + λ cos θ)^ζ
         exp(−η[(R_ij − r_s)² + (R_ik − r_s)²]) f_c(R_ij) f_c(R_ik);
  G3 = G9's summand times exp(−η(R_jk − r_s)²) f_c(R_jk);
  x = (G − sf_mean) / sf_std; h_l = φ(W_l h_{l−1} + b_l); o = W_out h_L + b_out;
  E_h = Σ_i o_h(x_i); F = −∂E/∂r; σ = (1/V) ∂E/∂ε for r → r(1 + ε),
  H → H(1 + ε) (row vectors), zero where no axis is periodic;
  physical: E = scale·E_raw + shift + Σ_i ref[Z_i], F and σ times scale.
"""
import argparse
import json
import math
import struct
import sys
import time
import zlib

import numpy as np
import torch

SYMBOLS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn "
    "Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr "
    "Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra "
    "Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og"
).split()
Z_OF = {s: z for z, s in enumerate(SYMBOLS)}
EV_PER_A3_IN_GPA = 160.21766208


# ---- the inference checkpoint ------------------------------------------------------


class Checkpoint:
    """An mlip inference checkpoint: 64-byte header, JSON, float64 blobs."""

    def __init__(self, path, weights="primary"):
        data = open(path, "rb").read()
        if len(data) < 64 or data[:8] != b"MLIPCKPT":
            raise ValueError(f"{path}: not an mlip checkpoint")
        version, hbytes, jbytes, nblobs, count, esize, crc = struct.unpack_from("<IIQQQII", data, 8)
        if version != 1 or hbytes != 64 or esize != 8:
            raise ValueError(f"{path}: version {version}, header {hbytes}, element size {esize}")
        jpad = (jbytes + 63) // 64 * 64
        if len(data) != 64 + jpad + nblobs * count * 8:
            raise ValueError(f"{path}: {len(data)} bytes, the header says {64 + jpad + nblobs * count * 8}")
        if zlib.crc32(data[64:]) & 0xFFFFFFFF != crc:
            raise ValueError(f"{path}: checksum mismatch")
        meta = json.loads(data[64:64 + jbytes].decode("utf-8"))
        if meta.get("format") != "mlip-model":
            raise ValueError(f"{path}: not an inference checkpoint")
        blobs = np.frombuffer(data, dtype="<f8", count=nblobs * count, offset=64 + jpad)
        blobs = blobs.reshape(nblobs, count).astype(np.float64)
        names = meta["blobs"]
        k = 0 if weights == "primary" else names.index(weights)
        flat = blobs[k]
        self.path = path
        self.meta = meta
        self.blob_names = names
        self.tensors = {}    # name -> np array of its shape
        self.tensor_order = []
        for t in meta["tensors"]:
            a = flat[t["offset"]:t["offset"] + t["count"]].reshape(t["shape"])
            self.tensors[t["name"]] = a
            self.tensor_order.append(t["name"])
        self.descriptors = meta["descriptors"]
        # Model settings from the resolved config (read as plain strings: no YAML
        # type guessing, so an element N or No stays a symbol).
        import yaml
        cfg = yaml.load(meta["config"], Loader=yaml.BaseLoader)
        model = cfg["model"]
        self.cutoff = float(model["cutoff"])
        self.elements = [Z_OF[s] for s in model["elements"]]
        self.heads = list(model["heads"])
        self.activation = model["activation"]
        self.hidden = [int(w) for w in model["hidden"]]
        self.seed = int(model.get("seed", "0"))
        # model.descriptor: {type: symmetry_functions} (also when absent) or {type: mtp, ...}
        self.basis = dict(model.get("descriptor") or {})
        self.basis.setdefault("type", "symmetry_functions")
        # Per head: scale, shift, element references (eV per atom, by Z).
        state = {h["name"]: h for h in meta["tasks_state"]["heads"]}
        self.scale, self.shift, self.ref = [], [], []
        for name in self.heads:
            h = state.get(name, {})
            scale, shift = 1.0, 0.0
            norm = h.get("normalizer")
            if norm:
                st = norm["state"]
                if isinstance(st, str):
                    st = json.loads(st)
                if norm["name"] == "rmsd":
                    scale, shift = float(st["rmsd"]), float(st["mean"])
                elif norm["name"] != "identity":
                    raise ValueError(f"{path}: normalizer '{norm['name']}' is not known here")
            ref = np.zeros(len(SYMBOLS))
            for sym, v in (h.get("element_references") or {}).items():
                ref[Z_OF[sym]] = float(v)
            self.scale.append(scale)
            self.shift.append(shift)
            self.ref.append(ref)


# ---- structures, neighbour lists, batches ------------------------------------------


class Structure:
    def __init__(self, numbers, positions, cell=None, pbc=(False, False, False), energy=None,
                 forces=None, stress=None, id=""):
        self.numbers = np.asarray(numbers, dtype=np.int64)
        self.positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        self.cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64).reshape(3, 3)
        self.pbc = np.asarray(pbc, dtype=bool)
        self.energy, self.forces, self.stress, self.id = energy, forces, stress, id

    def volume(self):
        """|det H| where the stress is defined (a periodic axis, non-singular cell), else 0."""
        v = abs(np.linalg.det(self.cell)) if self.pbc.any() else 0.0
        return v if v > 1e-12 else 0.0


def neighbour_list(pos, cell, pbc, rc):
    """Every (i, j, n) with 0 < |r_j + n·H − r_i| < rc, brute force over all images.

    The image range along a periodic axis a covers |Δf_a + n_a| <= rc / d_a,
    with d_a = V / |b × c| the distance between lattice planes and Δf the
    fractional separation, so thin and triclinic cells are handled exactly.
    Returns i, j (int64) and n (E, 3) int64, sorted by i.
    """
    N = len(pos)
    ranges = []
    if pbc.any():
        inv = np.linalg.inv(cell)
        frac = pos @ inv
        vol = abs(np.linalg.det(cell))
        for a in range(3):
            if not pbc[a]:
                ranges.append(np.arange(1))
                continue
            cross = np.cross(cell[(a + 1) % 3], cell[(a + 2) % 3])
            d = vol / np.linalg.norm(cross)
            span = frac[:, a].max() - frac[:, a].min()
            m = int(math.ceil(rc / d + span))
            ranges.append(np.arange(-m, m + 1))
    else:
        ranges = [np.arange(1)] * 3
    shifts = np.stack(np.meshgrid(*ranges, indexing="ij"), -1).reshape(-1, 3)
    out_i, out_j, out_n = [], [], []
    diff = pos[None, :, :] - pos[:, None, :]                 # (N, N, 3): r_j − r_i
    chunk = max(1, 4_000_000 // max(1, N * N))
    for s0 in range(0, len(shifts), chunk):
        sh = shifts[s0:s0 + chunk]
        t = sh.astype(np.float64) @ cell                     # (S, 3)
        r = diff[None, :, :, :] + t[:, None, None, :]        # (S, N, N, 3)
        r2 = (r * r).sum(-1)
        s, i, j = np.nonzero((r2 < rc * rc) & (r2 > 0))
        out_i.append(i)
        out_j.append(j)
        out_n.append(sh[s])
    i = np.concatenate(out_i)
    j = np.concatenate(out_j)
    n = np.concatenate(out_n).reshape(-1, 3)
    order = np.lexsort((j, i))
    return i[order], j[order], n[order]


_TRIU = {}


def _triu(k):
    if k not in _TRIU:
        _TRIU[k] = np.triu_indices(k, 1)
    return _TRIU[k]


class Batch:
    """Structures flattened into atom, edge and triplet arrays, grouped the way the
    model consumes them (by central element, neighbour element(s))."""

    def __init__(self, structures, cutoff, elements, dtype=torch.float64):
        self.structures = structures
        self.B = len(structures)
        self.dtype = dtype
        pos, num, sys_, ei, ej, shift, esys, vol, cells = [], [], [], [], [], [], [], [], []
        self.nedges = []
        off = 0
        for s, st in enumerate(structures):
            i, j, n = neighbour_list(st.positions, st.cell, st.pbc, cutoff)
            self.nedges.append(len(i))
            pos.append(st.positions)
            num.append(st.numbers)
            sys_.append(np.full(len(st.numbers), s))
            ei.append(i + off)
            ej.append(j + off)
            shift.append(n.astype(np.float64) @ st.cell)
            esys.append(np.full(len(i), s))
            vol.append(st.volume())
            cells.append(st.cell)
            off += len(st.numbers)
        self.N = off
        self.numbers = np.concatenate(num)
        self.atom_sys_np = np.concatenate(sys_)
        ei = np.concatenate(ei)
        ej = np.concatenate(ej)
        esys = np.concatenate(esys)
        self.E = len(ei)
        self.pos = torch.tensor(np.concatenate(pos), dtype=dtype)
        self.shift = torch.tensor(np.concatenate(shift).reshape(-1, 3), dtype=dtype)
        self.ei = torch.from_numpy(ei)
        self.ej = torch.from_numpy(ej)
        self.esys = torch.from_numpy(esys)
        self.atom_sys = torch.from_numpy(self.atom_sys_np)
        self.volume = torch.tensor(vol, dtype=dtype)
        self.natoms = torch.tensor([len(st.numbers) for st in structures], dtype=dtype)
        # Atoms by element: global indices and the position of each atom in its block.
        self.elem_atoms = {}
        loc = np.zeros(self.N, dtype=np.int64)
        for z in elements:
            idx = np.nonzero(self.numbers == z)[0]
            loc[idx] = np.arange(len(idx))
            self.elem_atoms[z] = torch.from_numpy(idx)
        unknown = set(self.numbers.tolist()) - set(elements)
        if unknown:
            raise ValueError(f"elements {sorted(unknown)} are not in the model")
        zc, zn = self.numbers[ei], self.numbers[ej]
        # Radial groups: (central Z, neighbour Z) -> edge indices, block-local centre.
        self.radial = {}
        for a in elements:
            for b in elements:
                idx = np.nonzero((zc == a) & (zn == b))[0]
                if len(idx):
                    self.radial[(a, b)] = (torch.from_numpy(idx), torch.from_numpy(loc[ei[idx]]))
        # Triplets: unordered pairs of distinct edges of one centre (edges are sorted by i).
        first = np.searchsorted(ei, np.arange(self.N + 1))
        t1, t2 = [], []
        for a in range(self.N):
            k = first[a + 1] - first[a]
            if k >= 2:
                p, q = _triu(k)
                t1.append(p + first[a])
                t2.append(q + first[a])
        t1 = np.concatenate(t1) if t1 else np.zeros(0, dtype=np.int64)
        t2 = np.concatenate(t2) if t2 else np.zeros(0, dtype=np.int64)
        self.n_triplets = len(t1)
        tc, ta, tb = zc[t1], zn[t1], zn[t2]
        lo, hi = np.minimum(ta, tb), np.maximum(ta, tb)
        self.angular = {}
        for a in elements:
            for p in elements:
                for q in elements:
                    if p > q:
                        continue
                    idx = np.nonzero((tc == a) & (lo == p) & (hi == q))[0]
                    if len(idx):
                        self.angular[(a, p, q)] = (torch.from_numpy(t1[idx]), torch.from_numpy(t2[idx]),
                                                   torch.from_numpy(loc[ei[t1[idx]]]))


# ---- the model ------------------------------------------------------------------


def _fc(R, rc):
    return 0.5 * (torch.cos(R * (math.pi / rc)) + 1.0) * (R < rc).to(R.dtype)


def _softplus(x):
    # log(1 + e^x) with both branches finite everywhere, so that the unused
    # branch of where() never feeds a NaN into a (double) backward.
    pos = x > 0
    xp = torch.where(pos, x, torch.zeros_like(x))
    xn = torch.where(pos, torch.zeros_like(x), x)
    return torch.where(pos, xp + torch.log1p(torch.exp(-xp)), torch.log1p(torch.exp(xn)))


def _ipow(x, k):
    """x**k for an integer k >= 1 by repeated squaring."""
    out, sq = None, x
    while k:
        if k & 1:
            out = sq if out is None else out * sq
        k >>= 1
        if k:
            sq = sq * sq
    return out


ACTIVATIONS = {
    "tanh": torch.tanh,
    "silu": lambda x: x * torch.sigmoid(x),
    "softplus": _softplus,
}


class BPNN:
    def __init__(self, ck, dtype=torch.float64):
        self.ck = ck
        self.dtype = dtype
        self.elements = ck.elements
        self.H = len(ck.heads)
        self.cutoff = ck.cutoff
        self.act = ACTIVATIONS[ck.activation]
        self.params = {}          # trainable leaves by tensor name
        self.scaling = {}         # z -> (mean, std), constants
        self.layers = {}          # z -> [(w, b), ...]
        L = len(ck.hidden)
        for z in self.elements:
            sym = SYMBOLS[z]
            t = lambda name: torch.tensor(ck.tensors[f"{sym}.{name}"], dtype=dtype)
            self.scaling[z] = (t("sf_mean"), t("sf_std"))
            layers = []
            for l in range(L + 1):
                wn, bn = (f"w{l + 1}", f"b{l + 1}") if l < L else ("w_out", "b_out")
                w, b = t(wn).requires_grad_(), t(bn).requires_grad_()
                self.params[f"{sym}.{wn}"], self.params[f"{sym}.{bn}"] = w, b
                layers.append((w, b))
            self.layers[z] = layers
        self.init_descriptors(ck, dtype)

    def init_descriptors(self, ck, dtype):
        """The descriptor plan per central element, from the stored list (never re-derived)."""
        if ck.basis["type"] != "symmetry_functions":
            raise ValueError(f"{ck.path}: descriptor type '{ck.basis['type']}' is not symmetry "
                             f"functions (torch_mtp.py implements type mtp)")
        chans = {}
        self.plan = {}
        for z in self.elements:
            fs = [f for f in ck.descriptors if f["z"] == z]
            if not fs:
                raise ValueError(f"no descriptors for element {SYMBOLS[z]}")
            plan = {"dim": len(fs), "radial": {}, "angular": {}}
            for col, f in enumerate(fs):
                key = (f["eta"], f["rs"], f["rc"])
                ch = chans.setdefault(key, len(chans))
                if f["kind"] == 2:
                    plan["radial"].setdefault(f["z1"], []).append((col, ch))
                elif f["kind"] in (3, 9):
                    p, q = sorted((f["z1"], f["z2"]))
                    blk = plan["angular"].setdefault((p, q), {"terms": [], "g9": [], "g3": []})
                    term = (f["lambda"], f["zeta"])
                    if term not in blk["terms"]:
                        blk["terms"].append(term)
                    ti = blk["terms"].index(term)
                    blk["g9" if f["kind"] == 9 else "g3"].append((col, ti, ch, f))
                else:
                    raise ValueError(f"unknown symmetry function kind {f['kind']}")
            self.plan[z] = plan
        keys = sorted(chans, key=chans.get)
        self.ch_eta = torch.tensor([k[0] for k in keys], dtype=dtype)
        self.ch_rs = torch.tensor([k[1] for k in keys], dtype=dtype)
        self.ch_rc = torch.tensor([k[2] for k in keys], dtype=dtype)
        for z, plan in self.plan.items():
            for zn, lst in plan["radial"].items():
                plan["radial"][zn] = (torch.tensor([c for c, _ in lst]), torch.tensor([h for _, h in lst]))
            for key, blk in plan["angular"].items():
                used = sorted({ch for _, _, ch, _ in blk["g9"]})
                blk["g9_ch"] = torch.tensor(used, dtype=torch.long)
                nc = len(used)
                blk["g9_cols"] = torch.tensor([c for c, _, _, _ in blk["g9"]], dtype=torch.long)
                blk["g9_pick"] = torch.tensor([ti * nc + used.index(ch) for _, ti, ch, _ in blk["g9"]],
                                              dtype=torch.long)

    def parameters(self):
        return list(self.params.values())

    # -- descriptors
    def descriptors(self, batch, r):
        """G per element block: {z: (n_z, D_z)} from edge vectors r (E, 3)."""
        R = torch.linalg.norm(r, dim=1)
        # every channel on every edge: exp(−η(R − r_s)²) f_c(R), (E, C)
        ch = torch.exp(-self.ch_eta * (R[:, None] - self.ch_rs) ** 2) * _fc(R[:, None], self.ch_rc)
        out = {}
        for z in self.elements:
            plan = self.plan[z]
            n = len(batch.elem_atoms[z])
            G = torch.zeros(n, plan["dim"], dtype=r.dtype)
            for zn, (cols, chs) in plan["radial"].items():
                if (z, zn) not in batch.radial:
                    continue
                idx, centre = batch.radial[(z, zn)]
                vals = ch.index_select(1, chs).index_select(0, idx)
                blk = torch.zeros(n, len(cols), dtype=r.dtype).index_add(0, centre, vals)
                G = G.index_add(1, cols, blk)
            for (p, q), blk in plan["angular"].items():
                if (z, p, q) not in batch.angular:
                    continue
                e1, e2, centre = batch.angular[(z, p, q)]
                r1, r2 = r.index_select(0, e1), r.index_select(0, e2)
                cos = (r1 * r2).sum(1) / (R.index_select(0, e1) * R.index_select(0, e2))
                # P_t = 2^{1−ζ}(1 + λ cos)^ζ per distinct (λ, ζ), integer powers by
                # repeated multiplication (no pow at 1 + λ cos = 0)
                bases, P = {}, []
                for lam, zeta in blk["terms"]:
                    if lam not in bases:
                        bases[lam] = 1.0 + lam * cos
                    base = bases[lam]
                    iz = int(zeta)
                    pw = _ipow(base, iz) if iz == zeta else torch.pow(base, zeta)
                    P.append(2.0 ** (1.0 - zeta) * pw)
                P = torch.stack(P, 1)                                      # (T, n_terms)
                if len(blk["g9"]):
                    chA = ch.index_select(1, blk["g9_ch"])                 # (E, nc)
                    Q = chA.index_select(0, e1) * chA.index_select(0, e2)  # (T, nc)
                    PQ = (P[:, :, None] * Q[:, None, :]).reshape(len(e1), -1)
                    acc = torch.zeros(n, PQ.shape[1], dtype=r.dtype).index_add(0, centre, PQ)
                    G = G.index_add(1, blk["g9_cols"], acc.index_select(1, blk["g9_pick"]))
                if len(blk["g3"]):
                    R3 = torch.linalg.norm(r2 - r1, dim=1)
                    terms = []
                    for col, ti, chi, f in blk["g3"]:
                        c1 = ch[:, chi]
                        g3 = (P[:, ti] * c1.index_select(0, e1) * c1.index_select(0, e2) *
                              torch.exp(-f["eta"] * (R3 - f["rs"]) ** 2) * _fc(R3, f["rc"]))
                        terms.append(g3)
                    acc = torch.zeros(n, len(terms), dtype=r.dtype).index_add(0, centre, torch.stack(terms, 1))
                    G = G.index_add(1, torch.tensor([t[0] for t in blk["g3"]]), acc)
            out[z] = G
        return out

    # -- energies
    def energy(self, batch, r):
        """Raw model energies (B, H) from edge vectors r."""
        G = self.descriptors(batch, r)
        E = torch.zeros(batch.B, self.H, dtype=r.dtype)
        for z in self.elements:
            mean, std = self.scaling[z]
            h = (G[z] - mean) / std
            layers = self.layers[z]
            for w, b in layers[:-1]:
                h = self.act(h @ w.T + b)
            w, b = layers[-1]
            o = h @ w.T + b
            E = E.index_add(0, batch.atom_sys[batch.elem_atoms[z]], o)
        return E

    def evaluate(self, batch, forces=True, stress=True, create_graph=False, edge_virial=False):
        """Raw energy (B, H), forces (N, 3, H), stress (B, 9, H) (None when not asked)."""
        pos = batch.pos.detach().clone().requires_grad_(forces or edge_virial)
        eps = torch.zeros(batch.B, 3, 3, dtype=batch.dtype, requires_grad=stress)
        r0 = pos[batch.ej] - pos[batch.ei] + batch.shift
        r = r0 + torch.einsum("ea,eab->eb", r0, eps[batch.esys]) if stress else r0
        E = self.energy(batch, r)
        out = {"energy": E, "forces": None, "stress": None, "virial_edges": None}
        inputs = ([pos] if forces else []) + ([eps] if stress else []) + ([r0] if edge_virial else [])
        if not inputs:
            return out
        F, S, V = [], [], []
        for h in range(self.H):
            g = torch.autograd.grad(E[:, h].sum(), inputs, create_graph=create_graph, retain_graph=True)
            k = 0
            if forces:
                F.append(-g[k])
                k += 1
            if stress:
                S.append(g[k].reshape(batch.B, 9))
                k += 1
            if edge_virial:
                vir = torch.zeros(batch.B, 9, dtype=batch.dtype).index_add(
                    0, batch.esys, (r0.detach()[:, :, None] * g[k].detach()[:, None, :]).reshape(-1, 9))
                V.append(vir)
        inv_v = torch.where(batch.volume > 0, 1.0 / torch.where(batch.volume > 0, batch.volume,
                                                                 torch.ones_like(batch.volume)),
                            torch.zeros_like(batch.volume))
        if forces:
            out["forces"] = torch.stack(F, -1)
        if stress:
            out["stress"] = torch.stack(S, -1) * inv_v[:, None, None]
        if edge_virial:
            out["virial_edges"] = torch.stack(V, -1) * inv_v[:, None, None]
        return out

    def physical(self, batch, out):
        """Physical energies, forces and stress from raw outputs (numpy, float64)."""
        E = out["energy"].detach().double().numpy().copy()
        F = out["forces"].detach().double().numpy().copy()
        S = out["stress"].detach().double().numpy().copy()
        for h in range(self.H):
            ref = self.ck.ref[h][batch.numbers]
            refsum = np.zeros(batch.B)
            np.add.at(refsum, batch.atom_sys_np, ref)
            E[:, h] = self.ck.scale[h] * E[:, h] + self.ck.shift[h] + refsum
            F[:, :, h] *= self.ck.scale[h]
            S[:, :, h] *= self.ck.scale[h]
        return E, F, S


def model_for(ck, dtype=torch.float64):
    """The torch model of checkpoint ck: BPNN on symmetry functions, or on the moment
    tensor basis (torch_mtp.MTP) when the model's descriptor type is mtp."""
    if ck.basis["type"] == "mtp":
        import torch_mtp
        return torch_mtp.MTP(ck, dtype)
    return BPNN(ck, dtype)


# ---- compare with mlip -----------------------------------------------------------


FLOOR = 1e-3


def rel(a, b):
    """Norm-relative difference ||a − b|| / ||b|| of a (torch) against b (mlip).

    The norm of b is floored at FLOOR·√n (n values), so that an array of
    rounding noise (the forces of a perfect crystal, ~1e-15) is compared
    absolutely instead of relative to its own noise.
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    nb = max(np.linalg.norm(b), FLOOR * math.sqrt(max(1, b.size)))
    return np.linalg.norm(a - b) / nb


def compare_one(ckpt_path, dump_path, fd=False, weights="primary"):
    """Returns a list of (quantity, name, relative difference) and a list of problems."""
    ck = Checkpoint(ckpt_path, weights)
    dump = json.load(open(dump_path))
    model = model_for(ck, torch.float64)
    H = model.H
    problems = []
    if dump["heads"] != ck.heads:
        problems.append(f"heads {dump['heads']} != {ck.heads}")
    structs = [Structure(s["numbers"], s["positions"], s["cell"], [bool(p) for p in s["pbc"]], id=s["id"])
               for s in dump["structures"]]
    batch = Batch(structs, ck.cutoff, model.elements)
    for s, st in enumerate(dump["structures"]):
        if batch.nedges[s] != st["n_edges"]:
            problems.append(f"{st['id']}: {batch.nedges[s]} neighbours here, mlip has {st['n_edges']}")
    out = model.evaluate(batch, create_graph=True, edge_virial=True)
    E, F, S = out["energy"], out["forces"], out["stress"]
    cat = lambda key, part, shape: np.concatenate(
        [np.asarray(s[key][part], dtype=np.float64).reshape(shape(s)) for s in dump["structures"]])
    mE = cat("raw", "energy", lambda s: (1, H))
    mF = cat("raw", "forces", lambda s: (s["natoms"], 3, H))
    mS = cat("raw", "stress", lambda s: (1, 9, H))
    pE = cat("physical", "energy", lambda s: (1, H))
    pF = cat("physical", "forces", lambda s: (s["natoms"], 3, H))
    pS = cat("physical", "stress", lambda s: (1, 9, H))
    a = torch.tensor(cat("coef", "energy", lambda s: (1, H)))
    c = torch.tensor(cat("coef", "forces", lambda s: (s["natoms"], 3, H)))
    d = torch.tensor(cat("coef", "stress", lambda s: (1, 9, H)))
    L = (a * E).sum() + (c * F).sum() + (d * S).sum()
    names = list(model.params)
    grads = torch.autograd.grad(L, [model.params[n] for n in names])
    res = [("energy raw", "", rel(E.detach(), mE)),
           ("forces raw", "", rel(F.detach(), mF)),
           ("stress raw", "", rel(S.detach(), mS))]
    tE, tF, tS = model.physical(batch, out)
    res += [("energy physical", "", rel(tE, pE)), ("forces physical", "", rel(tF, pF)),
            ("stress physical", "", rel(tS, pS)), ("loss", "", rel(L.detach(), dump["loss"]))]
    # per structure too, so that a small system is not hidden by a large one
    a0 = 0
    for s, st in enumerate(dump["structures"]):
        n = st["natoms"]
        res.append(("energy raw per structure", st["id"], rel(E.detach()[s], mE[s])))
        res.append(("forces raw per structure", st["id"], rel(F.detach()[a0:a0 + n], mF[a0:a0 + n])))
        if np.any(mS[s] != 0) or batch.volume[s] > 0:
            res.append(("stress raw per structure", st["id"], rel(S.detach()[s], mS[s])))
        a0 += n
    for n, g in zip(names, grads):
        res.append(("gradient", n, rel(g.reshape(-1), dump["grads"][n])))
    for n, g in dump["grads"].items():
        if n not in model.params and any(v != 0 for v in g):
            problems.append(f"mlip's gradient of the constant '{n}' is not zero")
    if hasattr(model, "check_dump"):   # what a basis adds (torch_mtp: the radial coefficients)
        more, why = model.check_dump(dump)
        res += more
        problems += why
    # the strain stress against the pair-vector formula (1/V) Σ r_ij ⊗ ∂E/∂r_ij
    res.append(("stress strain vs pair formula (torch)", "", rel(S.detach(), out["virial_edges"])))
    if fd:
        res += finite_differences(model, batch, out)
    return res, problems


def finite_differences(model, batch, out, h=1e-5):
    """Central differences of torch's own energy: forces (a few atoms) and stress (strain
    of positions and cell), each point with a fresh neighbour list."""
    res = []
    first = True
    cutoffs = sorted({f["rc"] for f in model.ck.descriptors} | {model.cutoff})
    for s, st in enumerate(batch.structures):
        # the first periodic structure and every small one (thin, triclinic, slab cells)
        if batch.volume[s] <= 0 or not (first or len(st.numbers) <= 12):
            continue
        # f_c has a jump in its second derivative at r_c: central differences across
        # it are only O(h) accurate, so skip structures with a distance near a cutoff
        i, j, n = neighbour_list(st.positions, st.cell, st.pbc, cutoffs[-1] + 1e-3)
        R = np.linalg.norm(st.positions[j] - st.positions[i] + n @ st.cell, axis=1)
        if len(R) and np.abs(R[:, None] - np.array(cutoffs)[None, :]).min() < 1e-3:
            continue
        first = False
        one = Batch([st], model.cutoff, model.elements)
        base = model.evaluate(one)
        def energy_at(pos, cell):
            b = Batch([Structure(st.numbers, pos, cell, st.pbc)], model.cutoff, model.elements)
            with torch.no_grad():
                return model.energy(b, b.pos[b.ej] - b.pos[b.ei] + b.shift).numpy()
        fd_f, ad_f = [], []
        for i in range(min(3, len(st.numbers))):
            for x in range(3):
                p, m = st.positions.copy(), st.positions.copy()
                p[i, x] += h
                m[i, x] -= h
                fd_f.append(-(energy_at(p, st.cell) - energy_at(m, st.cell)) / (2 * h))
                ad_f.append(base["forces"].detach().numpy()[i, x])
        fd_s = np.zeros((9, model.H))
        for k in range(9):
            eps = np.zeros(9)
            eps[k] = h
            T = np.eye(3) + eps.reshape(3, 3)
            Tm = np.eye(3) - eps.reshape(3, 3)
            ep = energy_at(st.positions @ T, st.cell @ T)
            em = energy_at(st.positions @ Tm, st.cell @ Tm)
            fd_s[k] = (ep - em)[0] / (2 * h) / st.volume()
        res.append(("finite differences: forces (torch)", st.id, rel(np.array(ad_f), np.array(fd_f))))
        res.append(("finite differences: stress (torch)", st.id,
                    rel(base["stress"].detach().numpy()[0], fd_s)))
    return res


def cmd_compare(args):
    torch.set_num_threads(1)
    worst = {}
    failed = False
    pairs = list(zip(args.files[0::2], args.files[1::2]))
    if len(args.files) % 2 or not pairs:
        sys.exit("compare: expected CKPT DUMP pairs")
    for ckpt, dump in pairs:
        res, problems = compare_one(ckpt, dump, fd=args.fd, weights=args.weights)
        case = args.label.pop(0) if args.label else dump
        for q, name, v in res:
            key = q
            if key.startswith("gradient"):
                key = "gradient"
            if key not in worst or v > worst[key][0]:
                worst[key] = (v, case, name)
            if args.verbose:
                print(f"{case:24s} {q:40s} {name:30s} {v:.3e}")
        for p in problems:
            print(f"{case}: PROBLEM: {p}")
            failed = True
        g = max(v for q, _, v in res if q == "gradient")
        print(f"{case}: energy {max(v for q, _, v in res if q.startswith('energy')):.2e}  "
              f"forces {max(v for q, _, v in res if q.startswith('forces')):.2e}  "
              f"stress {max(v for q, _, v in res if q.startswith('stress raw') or q.startswith('stress phys')):.2e}  "
              f"gradients {g:.2e} ({sum(1 for q, _, _ in res if q == 'gradient')} tensors)")
    print("worst norm-relative difference per quantity (torch vs mlip):")
    for key, (v, case, name) in sorted(worst.items()):
        tol = args.fd_tol if key.startswith("finite") else args.tol
        bad = v > tol
        failed |= bad
        print(f"  {key:42s} {v:.3e}  {case} {name}{'  > ' + format(tol, 'g') if bad else ''}")
    sys.exit(1 if failed else 0)


# ---- the training peer -----------------------------------------------------------


def read_mlearn(path):
    """mlearn JSON -> Structures with labels (stress: kBar VASP sign -> eV/Å³ ASE sign)."""
    out = []
    for k, rec in enumerate(json.load(open(path))):
        st = rec["structure"]
        cell = np.array(st["lattice"]["matrix"], dtype=np.float64)
        pos = np.array([s["xyz"] for s in st["sites"]], dtype=np.float64)
        num = [Z_OF[s["species"][0]["element"]] for s in st["sites"]]
        o = rec["outputs"]
        v = np.array(o["virial_stress"], dtype=np.float64)   # xx yy zz xy yz zx
        sig = -0.1 * v / EV_PER_A3_IN_GPA
        stress = np.array([[sig[0], sig[3], sig[5]], [sig[3], sig[1], sig[4]], [sig[5], sig[4], sig[2]]])
        out.append(Structure(num, pos, cell, (True, True, True), energy=float(o["energy"]),
                             forces=np.array(o["forces"], dtype=np.float64), stress=stress,
                             id=f"{path}:{k}"))
    return out


class Targets:
    """Raw-space targets of a batch for head 0 (mlip's energy / forces / stress tasks)."""

    def __init__(self, ck, batch):
        scale, shift, ref = ck.scale[0], ck.shift[0], ck.ref[0]
        refsum = np.zeros(batch.B)
        np.add.at(refsum, batch.atom_sys_np, ref[batch.numbers])
        e = np.array([st.energy for st in batch.structures])
        dt = batch.dtype
        self.energy = torch.tensor((e - refsum - shift) / scale, dtype=dt)
        self.forces = torch.tensor(np.concatenate([st.forces for st in batch.structures]) / scale, dtype=dt)
        self.stress = torch.tensor(np.stack([st.stress.reshape(9) for st in batch.structures]) / scale, dtype=dt)


def train_step(model, batch, tgt, opt, cf=10.0, cs=1.0):
    out = model.evaluate(batch, create_graph=True)
    E, F, S = out["energy"][:, 0], out["forces"][:, :, 0], out["stress"][:, :, 0]
    loss = (((E - tgt.energy) / batch.natoms) ** 2).mean() \
        + cf * ((F - tgt.forces) ** 2).mean() + cs * ((S - tgt.stress) ** 2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss)


def _to(batch, tgt, dtype):
    """A shallow copy of batch and targets with floating tensors in dtype."""
    b = Batch.__new__(Batch)
    b.__dict__.update(batch.__dict__)
    for k in ("pos", "shift", "volume", "natoms"):
        setattr(b, k, getattr(batch, k).to(dtype))
    b.dtype = dtype
    t = Targets.__new__(Targets)
    t.energy, t.forces, t.stress = (x.to(dtype) for x in (tgt.energy, tgt.forces, tgt.stress))
    return b, t


def cmd_train(args):
    ck = Checkpoint(args.ckpt)
    t0 = time.perf_counter()
    structs = read_mlearn(args.data)
    elements = [z for z in ck.elements]
    batches = []
    for k in range(0, len(structs), args.batch_size):
        b = Batch(structs[k:k + args.batch_size], ck.cutoff, elements, torch.float64)
        batches.append((b, Targets(ck, b)))
    t_load = time.perf_counter() - t0
    for dname in args.dtype or ["float64"]:
        dtype = torch.float64 if dname == "float64" else torch.float32
        data = [_to(b, t, dtype) for b, t in batches]
        for threads in args.threads or [1]:
            torch.set_num_threads(threads)
            model = model_for(ck, dtype)
            decay = [p for n, p in model.params.items() if ".w" in n]
            no_decay = [p for n, p in model.params.items() if ".b" in n]
            opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                     {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
            rng = np.random.default_rng(args.seed)
            for k in rng.permutation(len(data))[:args.warmup]:
                train_step(model, *data[k], opt)
            # whole epochs, every batch once per epoch, in a random order
            order = np.concatenate([rng.permutation(len(data)) for _ in range(args.epochs)])
            atoms, loss = 0, 0.0
            t0, c0 = time.perf_counter(), time.process_time()
            for k in order:
                loss = train_step(model, *data[k], opt)
                atoms += data[k][0].N
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(json.dumps({"peer": "torch", "torch": torch.__version__, "dtype": dname,
                              "threads": threads, "steps": len(order), "atoms": atoms, "seconds": dt,
                              "atoms_per_s": atoms / dt, "cpu_seconds": cpu, "atoms_per_cpu_s": atoms / cpu,
                              "loss": loss, "load_seconds": t_load,
                              "batches": len(data)}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare", help="check an oracle dump against torch")
    c.add_argument("--tol", type=float, default=1e-10)
    c.add_argument("--fd", action="store_true", help="also finite differences of torch itself")
    c.add_argument("--fd-tol", type=float, default=1e-6)
    c.add_argument("--label", action="append", default=[], help="a name per pair, in order")
    c.add_argument("--weights", choices=("primary", "raw", "ema"), default="primary",
                   help="which blob of the checkpoints (as oracle_dump --weights)")
    c.add_argument("-v", "--verbose", action="store_true")
    c.add_argument("files", nargs="+")
    t = sub.add_parser("train", help="training throughput")
    t.add_argument("--ckpt", required=True)
    t.add_argument("--data", required=True)
    t.add_argument("--dtype", choices=("float64", "float32"), action="append",
                   help="float64 (default) or float32; repeat for both")
    t.add_argument("--threads", type=int, action="append", help="torch threads (1); repeat for several")
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    t.add_argument("--epochs", type=int, default=1, help="timed epochs (every batch once each)")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.cmd == "compare":
        cmd_compare(args)
    else:
        cmd_train(args)


if __name__ == "__main__":
    main()
