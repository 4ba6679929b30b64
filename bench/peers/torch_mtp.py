#!/usr/bin/env python3
"""torch_mtp.py - the moment tensor basis of lib/mtp.h in PyTorch, for the oracle.

An independent implementation of mlip's second descriptor family, written from
the definition in lib/mtp.h (nothing is ported from lib/mtp.c): class MTP is
torch_bpnn.BPNN with the symmetry functions replaced by the moment tensor
basis, so the checkpoint reader, the neighbour list, the network, forces and
stress (autograd), the parameter gradients of the mixed loss (double backward)
and `torch_bpnn.py compare` are shared. `torch_bpnn.py compare` picks this
model for a checkpoint whose model.descriptor.type is mtp.

Where mtp.c stores each symmetric tensor by its distinct components and
contracts them with multinomial weights, this file builds the full tensors
û^{⊗ν} (3^ν components) and contracts them with einsum; `check` also evaluates
every function as the cosine sum of lib/mtp.h, Σ_{j,k,l} f f f (û_j·û_k)^|I|
(û_j·û_l)^|J| (û_k·û_l)^|K|, a third route.

Definition used (lib/mtp.h; i the centre, element a; j its neighbours, element b):
  ξ = (2R − r_min − r_c)/(r_c − r_min), Q_β = T_β(ξ)(1 − R/r_c)², β < n_radial;
  f_μ(R; a, b) = Σ_β c[a][b][μ][β] Q_β(R), μ < n_mu = ⌊(level − 2)/4⌋ + 1;
  M_{μ,ν} = Σ_j f_μ(R_j; a, b_j) û_j^{⊗ν}, lev = 2 + 4μ + ν;
  basis: M_{μ,0}; M_{μ1,ν} : M_{μ2,ν} (μ1 <= μ2); Σ M1_{IJ} M2_{IK} M3_{JK} for
  (μ1,ν1) <= (μ2,ν2) <= (μ3,ν3), ν1 + ν2 + ν3 even, triangle inequality; total
  level <= level; ordered by (level, k, μ1, ν1, μ2, ν2, μ3, ν3);
  c: for each ordered element pair (a, b), xoshiro256** (lib/rng.h) seeded with
  mlip_rng_seed2(model.seed, a·S + b), g = √(−2 ln(1 − u1)) cos(2π u2) row major
  (n_mu × n_radial), rows orthonormalised by modified Gram-Schmidt in row order.
  Fixed coefficients are not in the model file (they follow from the seed):
  they are derived here and compared with the ones oracle_dump prints. With
  model.descriptor.train_radial the model file holds them as the tensor
  mtp.radial (S, S, n_mu, n_radial), which starts from those values and is
  trained: here it is then read from the file and is a parameter like the
  network's weights, so compare checks its gradient too (and the coefficients
  oracle_dump prints must be the tensor's).

Subcommands
  check [--seed S] CKPT DUMP [CKPT DUMP ...]
      torch's own consistency on DUMP's structures (no mlip numbers used):
      the einsum basis against the cosine sums (every atom of the structures
      with at most 8 atoms), invariance of every basis value under a random
      rotation with reflection and a permutation of the atoms (and of the
      energy; forces rotate), and the basis size against the model's sf_mean.
      Exits 1 above 1e-10 relative (norm-relative, floored as compare does).
"""
import argparse
import itertools
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_bpnn as tb  # noqa: E402

U64 = (1 << 64) - 1


# ---- lib/rng.h: xoshiro256** seeded through splitmix64 --------------------------


def _splitmix64(x):
    """(new state, output) of one splitmix64 step."""
    x = (x + 0x9E3779B97F4A7C15) & U64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
    return x, z ^ (z >> 31)


class Rng:
    def __init__(self, seed, stream):
        """mlip_rng_seed2(seed, stream)."""
        _, mixed = _splitmix64(seed & U64)
        x = mixed ^ ((stream * 0xD1B54A32D192ED03 + 0x8BB84B93962EACC9) & U64)
        self.s = []
        for _ in range(4):
            x, v = _splitmix64(x)
            self.s.append(v)

    def u64(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & U64
        result = (rotl((s[1] * 5) & U64, 7) * 9) & U64
        t = (s[1] << 17) & U64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.u64() >> 11) * 2.0 ** -53


def default_radial(seed, S, n_mu, n_radial):
    """The default coefficients c (S, S, n_mu, n_radial) of lib/mtp.h."""
    c = np.zeros((S, S, n_mu, n_radial))
    for a in range(S):
        for b in range(S):
            rng = Rng(seed, a * S + b)
            g = np.zeros((n_mu, n_radial))
            for m in range(n_mu):
                for q in range(n_radial):
                    u1 = rng.uniform()
                    u2 = rng.uniform()
                    g[m, q] = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
            for m in range(n_mu):          # modified Gram-Schmidt, in row order
                v = g[m].copy()
                for k in range(m):
                    v -= float(np.dot(v, c[a, b, k])) * c[a, b, k]
                c[a, b, m] = v / math.sqrt(float(np.dot(v, v)))
    return c


# ---- the basis ---------------------------------------------------------------------


def enumerate_basis(level, max_order, n_mu, n_pair=0):
    """[(level, k, ((μ1, ν1), ...))] in lib/mtp.h's order; n_pair adds M_{μ,0}, μ < n_pair."""
    lev = lambda lab: 2 + 4 * lab[0] + lab[1]
    labels = sorted((mu, nu) for mu in range(n_mu) for nu in range(level + 1) if lev((mu, nu)) <= level)
    out = [(lev((mu, 0)), 1, ((mu, 0),)) for mu in range(n_pair) if lev((mu, 0)) > level]
    for lab in labels:
        if lab[1] == 0:
            out.append((lev(lab), 1, (lab,)))
    if max_order >= 2:
        for l1, l2 in itertools.combinations_with_replacement(labels, 2):
            if l1[1] == l2[1] and lev(l1) + lev(l2) <= level:
                out.append((lev(l1) + lev(l2), 2, (l1, l2)))
    if max_order >= 3:
        for l1, l2, l3 in itertools.combinations_with_replacement(labels, 3):
            n1, n2, n3 = l1[1], l2[1], l3[1]
            total = lev(l1) + lev(l2) + lev(l3)
            if total <= level and (n1 + n2 + n3) % 2 == 0 and n1 <= n2 + n3 and n2 <= n1 + n3 \
                    and n3 <= n1 + n2:
                out.append((total, 3, (l1, l2, l3)))
    out.sort(key=lambda f: (f[0], f[1]) + tuple(x for lab in f[2] for x in lab))
    return out


def _ranks3(f):
    """|I|, |J|, |K| of a k = 3 function: M1 has rank |I|+|J|, M2 |I|+|K|, M3 |J|+|K|."""
    n1, n2, n3 = (lab[1] for lab in f[2])
    return (n1 + n2 - n3) // 2, (n1 + n3 - n2) // 2, (n2 + n3 - n1) // 2


class MTP(tb.BPNN):
    """BPNN on the moment tensor basis (the network, scaling and heads of torch_bpnn)."""

    def init_descriptors(self, ck, dtype):
        d = ck.basis
        if d["type"] != "mtp":
            raise ValueError(f"{ck.path}: descriptor type '{d['type']}' is not mtp")
        self.level = int(d["level"])
        self.max_order = int(d.get("max_order", "3")) or 3
        self.r_min = float(d.get("r_min", "0"))
        self.n_pair = int(d.get("n_pair", "0"))
        self.n_mu = max((self.level - 2) // 4 + 1, self.n_pair)
        self.n_radial = int(d.get("n_radial", "0")) or max(8, self.n_mu)
        self.funcs = enumerate_basis(self.level, self.max_order, self.n_mu, self.n_pair)
        S = len(self.elements)
        self.radial_default = default_radial(ck.seed, S, self.n_mu, self.n_radial)
        self.trained_radial = "mtp.radial" in ck.tensors
        if str(d.get("train_radial", "false")).lower() == "true" and not self.trained_radial:
            raise ValueError(f"{ck.path}: train_radial is set, the model file has no mtp.radial")
        if self.trained_radial:
            self.radial_np = np.array(ck.tensors["mtp.radial"], dtype=np.float64)
            if self.radial_np.shape != (S, S, self.n_mu, self.n_radial):
                raise ValueError(f"{ck.path}: mtp.radial has shape {self.radial_np.shape}, "
                                 f"lib/mtp.h gives {(S, S, self.n_mu, self.n_radial)}")
            self.radial = torch.tensor(self.radial_np, dtype=dtype).requires_grad_()
            self.params["mtp.radial"] = self.radial
        else:
            self.radial_np = self.radial_default
            self.radial = torch.tensor(self.radial_np, dtype=dtype)
        self.elem_index = np.full(len(tb.SYMBOLS), -1, dtype=np.int64)
        for e, z in enumerate(self.elements):
            self.elem_index[z] = e
            dim = len(ck.tensors[f"{tb.SYMBOLS[z]}.sf_mean"])
            if dim != len(self.funcs):
                raise ValueError(f"{ck.path}: {dim} basis functions for {tb.SYMBOLS[z]} in the model, "
                                 f"{len(self.funcs)} by lib/mtp.h's definition")
        # the moments the functions use
        self.labels = sorted({lab for f in self.funcs for lab in f[2]})

    # -- pieces, per edge
    def radial_functions(self, batch, R):
        """f (E, n_mu): f_μ(R_e; a, b) for every edge."""
        rc, r0 = self.cutoff, self.r_min
        xi = (2.0 * R - r0 - rc) / (rc - r0)
        T = [torch.ones_like(xi), xi]
        while len(T) < self.n_radial:
            T.append(2.0 * xi * T[-1] - T[-2])
        Q = torch.stack(T[:self.n_radial], 1) * ((1.0 - R / rc) ** 2)[:, None]
        a = self.elem_index[batch.numbers[batch.ei.numpy()]]
        b = self.elem_index[batch.numbers[batch.ej.numpy()]]
        C = self.radial[torch.from_numpy(a), torch.from_numpy(b)]      # (E, n_mu, n_radial)
        return torch.einsum("eb,emb->em", Q, C)

    def moments(self, batch, r):
        """{(μ, ν): (N, 3^ν)}: the full moment tensors, row-major over their ν indices."""
        R = torch.linalg.norm(r, dim=1)
        u = r / R[:, None]
        f = self.radial_functions(batch, R)
        nu_max = max(nu for _, nu in self.labels)
        U = [torch.ones(len(R), 1, dtype=r.dtype)]                      # û^{⊗ν}, (E, 3^ν)
        for _ in range(nu_max):
            U.append((U[-1][:, :, None] * u[:, None, :]).reshape(len(R), -1))
        M = {}
        for mu, nu in self.labels:
            M[(mu, nu)] = torch.zeros(batch.N, 3 ** nu, dtype=r.dtype).index_add(
                0, batch.ei, f[:, mu, None] * U[nu])
        return M

    def basis(self, batch, r):
        """B (N, n_basis) by full-tensor contractions."""
        M = self.moments(batch, r)
        N = batch.N
        cols = []
        for f in self.funcs:
            if f[1] == 1:
                cols.append(M[f[2][0]][:, 0])
            elif f[1] == 2:
                cols.append((M[f[2][0]] * M[f[2][1]]).sum(1))
            else:
                i, j, k = _ranks3(f)
                m1 = M[f[2][0]].reshape(N, 3 ** i, 3 ** j)
                m2 = M[f[2][1]].reshape(N, 3 ** i, 3 ** k)
                m3 = M[f[2][2]].reshape(N, 3 ** j, 3 ** k)
                cols.append(torch.einsum("nij,nik,njk->n", m1, m2, m3))
        return torch.stack(cols, 1)

    def descriptors(self, batch, r):
        G = self.basis(batch, r)
        return {z: G.index_select(0, batch.elem_atoms[z]) for z in self.elements}

    def basis_cosines(self, batch, r, atoms):
        """B (len(atoms), n_basis) as lib/mtp.h's sums over neighbour pairs and triples."""
        R = torch.linalg.norm(r, dim=1)
        u = r / R[:, None]
        f = self.radial_functions(batch, R)
        ei = batch.ei.numpy()
        rows = []
        for i in atoms:
            e = torch.from_numpy(np.nonzero(ei == i)[0])
            fe, ue = f[e], u[e]
            c = ue @ ue.T                                               # (n, n) cosines
            row = []
            for fn in self.funcs:
                if fn[1] == 1:
                    row.append(fe[:, fn[2][0][0]].sum())
                elif fn[1] == 2:
                    (m1, nu), (m2, _) = fn[2]
                    row.append((fe[:, m1, None] * fe[None, :, m2] * c ** nu).sum())
                else:
                    a, b, k = _ranks3(fn)
                    m1, m2, m3 = (lab[0] for lab in fn[2])
                    row.append(torch.einsum("j,k,l,jk,jl,kl->", fe[:, m1], fe[:, m2], fe[:, m3],
                                            c ** a, c ** b, c ** k))
            rows.append(torch.stack(row))
        return torch.stack(rows)

    # -- what torch_bpnn's compare adds for this basis
    def check_dump(self, dump):
        res, problems = [], []
        t = dump.get("mtp")
        if t is None:
            return res, ["the dump has no moment tensor basis (\"mtp\")"]
        for key, mine in (("level", self.level), ("max_order", self.max_order), ("n_mu", self.n_mu),
                          ("n_radial", self.n_radial)):
            if t[key] != mine:
                problems.append(f"mlip's {key} is {t[key]}, here {mine}")
        if t["r_min"] != self.r_min:
            problems.append(f"mlip's r_min is {t['r_min']!r}, here {self.r_min!r}")
        mine = [[f[1], f[0]] + [x for q in range(3) for x in (f[2][q] if q < f[1] else (-1, -1))]
                for f in self.funcs]
        if t["funcs"] != mine:
            diff = [k for k, (p, q) in enumerate(zip(t["funcs"], mine)) if p != q]
            bad = diff[0] if diff else min(len(mine), len(t["funcs"]))
            problems.append(f"basis functions differ from number {bad} on ({len(t['funcs'])} in mlip, "
                            f"{len(mine)} here)")
        res.append(("mtp radial coefficients", "", tb.rel(self.radial_np, t["radial"])))
        if self.trained_radial:   # informative: how far training moved them (not compared)
            moved = float(np.abs(self.radial_np - self.radial_default).max())
            print(f"mtp radial coefficients are the tensor mtp.radial; trained "
                  f"max |c - c_seed| = {moved:.3e}")
        return res, problems


# ---- check: torch against itself ---------------------------------------------------


def _random_orthogonal(rng):
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) > 0:
        q[:, 0] = -q[:, 0]                  # a reflection too
    return q


def check_one(ckpt_path, dump_path, seed):
    import json
    ck = tb.Checkpoint(ckpt_path)
    model = MTP(ck)
    dump = json.load(open(dump_path))
    rng = np.random.default_rng(seed)
    res = []
    for s in dump["structures"]:
        st = tb.Structure(s["numbers"], s["positions"], s["cell"], [bool(p) for p in s["pbc"]], id=s["id"])
        b = tb.Batch([st], model.cutoff, model.elements)
        r = b.pos[b.ej] - b.pos[b.ei] + b.shift
        with torch.no_grad():
            G = model.basis(b, r)
            if len(st.numbers) <= 8:
                Gc = model.basis_cosines(b, r, range(len(st.numbers)))
                res.append(("einsum basis vs cosine sums", st.id, tb.rel(G, Gc)))
        # rotated (with a reflection), atoms permuted: the same basis rows, the same
        # energies, forces rotated
        q = _random_orthogonal(rng)
        perm = rng.permutation(len(st.numbers))
        st2 = tb.Structure(st.numbers[perm], st.positions[perm] @ q.T, st.cell @ q.T, st.pbc, id=st.id)
        b2 = tb.Batch([st2], model.cutoff, model.elements)
        r2 = b2.pos[b2.ej] - b2.pos[b2.ei] + b2.shift
        with torch.no_grad():
            G2 = model.basis(b2, r2)
        res.append(("basis under rotation and permutation", st.id, tb.rel(G2, G[perm])))
        o1 = model.evaluate(b, stress=False)
        o2 = model.evaluate(b2, stress=False)
        res.append(("energy under rotation and permutation", st.id,
                    tb.rel(o2["energy"].detach(), o1["energy"].detach())))
        F1 = o1["forces"].detach().numpy()
        F2 = o2["forces"].detach().numpy()
        res.append(("forces under rotation and permutation", st.id,
                    tb.rel(F2, np.einsum("xy,nyh->nxh", q, F1[perm]))))
    return res


def cmd_check(args):
    torch.set_num_threads(1)
    pairs = list(zip(args.files[0::2], args.files[1::2]))
    if len(args.files) % 2 or not pairs:
        sys.exit("check: expected CKPT DUMP pairs")
    worst = {}
    for ckpt, dump in pairs:
        for q, name, v in check_one(ckpt, dump, args.seed):
            if q not in worst or v > worst[q][0]:
                worst[q] = (v, dump, name)
    failed = False
    print("torch against itself, worst norm-relative difference:")
    for q, (v, dump, name) in sorted(worst.items()):
        bad = v > args.tol
        failed |= bad
        flag = f"  > {args.tol:g}" if bad else ""
        print(f"  {q:42s} {v:.3e}  {os.path.basename(dump)} {name}{flag}")
    if "einsum basis vs cosine sums" not in worst:
        print("no structure was small enough for the cosine sums")
        failed = True
    sys.exit(1 if failed else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="torch's basis against its cosine sums, rotations, permutations")
    c.add_argument("--tol", type=float, default=1e-10)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("files", nargs="+")
    args = ap.parse_args()
    cmd_check(args)


if __name__ == "__main__":
    main()
