#!/usr/bin/python3
"""An independent evaluator of n2p2 potentials, for checking mlip's export.

usage: nnp_eval.py [--fd H] NNP_DIR INPUT_DATA

Reads NNP_DIR/input.nn, NNP_DIR/scaling.data and NNP_DIR/weights.ZZZ.data,
evaluates every structure of INPUT_DATA (n2p2's input.data) and prints one
JSON object per structure: {"energy": E, "forces": [[fx, fy, fz], ...]}.
With --fd H it also differentiates its own energy by central differences
(step H, on the smallest structure, the first and last atom) and prints
{"fd_max_abs": ..., "fd_max_rel": ...} last, a check of the analytic forces.

Everything here follows n2p2's documented definitions and file formats
(the n2p2 manual's pages on input.nn keywords, symmetry functions and
scaling, and the behaviour of libnnp's Mode, Element, SymFnc*, CutoffFunction,
NeuralNetwork and Structure), not mlip's code:
  - elements are indexed by atomic number; each element's symmetry functions
    are sorted (type, rc, eta, rs, zeta, lambda, e1, e2), which fixes the
    order of scaling.data rows and of the network inputs;
  - cutoff_type 1: f_c(r) = 1/2 [cos(pi x) + 1], x = (r - alpha rc) / (rc - alpha rc);
  - type 2:  sum_j exp(-eta (r_ij - rs)^2) f_c(r_ij)
    type 9:  2^(1-zeta) sum_{j<k} (1 + lambda cos)^zeta
             exp(-eta [(r_ij - rs)^2 + (r_ik - rs)^2]) f_c(r_ij) f_c(r_ik)
    type 3:  as 9 with exp(-eta (r_jk - rs)^2) f_c(r_jk) inside the sum;
  - scaling: none, scale, center, scale+center or sigma, with Smin / Smax;
  - network: layer by layer x = W h + b, activations l t s p r g c S e h,
    one linear output neuron; weights in setConnections order;
  - normalisation (mean_energy, conv_energy, conv_length all present):
    lengths times conv_length inside the model, E = E_nn / conv_energy
    + N mean_energy, F = F_nn conv_length / conv_energy; then atom_energy
    offsets are added per atom.
Units are whatever the files hold (n2p2 has none).
"""
import json
import os
import sys

# one thread: the arrays are small, and a test runs beside others
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

ELEMENTS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn "
    "Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce "
    "Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn "
    "Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No"
).split()


def atomic_number(sym):
    return ELEMENTS.index(sym) + 1


# ---- input.nn -------------------------------------------------------------


def read_settings(path):
    """keyword -> list of value strings (a keyword may repeat)."""
    kw = {}
    for line in open(path):
        for c in "#!":
            if c in line:
                line = line[: line.index(c)]
        parts = line.split()
        if not parts:
            continue
        kw.setdefault(parts[0], []).append(parts[1:])
    return kw


class Potential:
    def __init__(self, d):
        kw = read_settings(d + "/input.nn")
        one = lambda k: kw[k][0]
        syms = sorted(one("elements"), key=atomic_number)
        if int(one("number_of_elements")[0]) != len(syms):
            raise SystemExit("inconsistent number_of_elements")
        self.elements = syms
        self.index = {s: i for i, s in enumerate(syms)}
        self.offset = {s: 0.0 for s in syms}
        for a in kw.get("atom_energy", []):
            self.offset[a[0]] = float(a[1])
        norm = [k in kw for k in ("mean_energy", "conv_energy", "conv_length")]
        if any(norm) and not all(norm):
            raise SystemExit("use all or none of mean_energy, conv_energy, conv_length")
        self.normalize = all(norm)
        self.mean_energy = float(one("mean_energy")[0]) if self.normalize else 0.0
        self.conv_energy = float(one("conv_energy")[0]) if self.normalize else 1.0
        self.conv_length = float(one("conv_length")[0]) if self.normalize else 1.0
        ct = one("cutoff_type")
        self.cutoff_type = int(ct[0])
        self.alpha = float(ct[1]) if len(ct) > 1 else 0.0
        if self.cutoff_type != 1:
            raise SystemExit("this evaluator implements cutoff_type 1 (cosine) only")
        # scaling type (Mode::setupSymmetryFunctionScaling)
        sc, ce, sg = ("scale_symmetry_functions" in kw, "center_symmetry_functions" in kw,
                      "scale_symmetry_functions_sigma" in kw)
        self.scaling = ("scale" if sc and not ce else "center" if ce and not sc
                        else "scalecenter" if sc and ce else "sigma" if sg else "none")
        self.smin = float(one("scale_min_short")[0]) if "scale_min_short" in kw else 0.0
        self.smax = float(one("scale_max_short")[0]) if "scale_max_short" in kw else 1.0
        # symmetry functions per element, sorted as n2p2 sorts them
        self.sf = {s: [] for s in syms}
        for a in kw.get("symfunction_short", []):
            ec, t = a[0], int(a[1])
            if t == 2:
                e1 = self.index[a[2]]
                eta, rs, rc = map(float, a[3:6])
                f = dict(type=2, e1=e1, e2=-1, eta=eta, rs=rs, rc=rc, zeta=0.0, lam=0.0)
            elif t in (3, 9):
                e1, e2 = sorted((self.index[a[2]], self.index[a[3]]))
                eta, lam, zeta, rc = map(float, a[4:8])
                rs = float(a[8]) if len(a) > 8 else 0.0
                f = dict(type=t, e1=e1, e2=e2, eta=eta, rs=rs, rc=rc, zeta=zeta, lam=lam)
            else:
                raise SystemExit("symmetry function type %d is not implemented here" % t)
            if self.normalize:
                f["eta"] /= self.conv_length ** 2
                f["rs"] *= self.conv_length
                f["rc"] *= self.conv_length
            self.sf[ec].append(f)
        for s in syms:
            self.sf[s].sort(key=lambda f: (f["type"], f["rc"], f["eta"], f["rs"])
                            + ((f["zeta"], f["lam"], f["e1"], f["e2"]) if f["type"] != 2
                               else (f["e1"],)))
        self.rmax = max(f["rc"] for s in syms for f in self.sf[s])
        # scaling.data
        rows = [l.split() for l in open(d + "/scaling.data") if l.strip() and l[0] != "#"]
        k = 0
        self.scale = {}
        for s in syms:
            n = len(self.sf[s])
            block = np.array([[float(x) for x in r[2:6]] for r in rows[k:k + n]])
            k += n
            gmin, gmax, gmean, gsig = block.T
            if self.scaling == "none":
                fac, sub, add = np.ones(n), np.zeros(n), np.zeros(n)
            elif self.scaling == "scale":
                fac, sub, add = (self.smax - self.smin) / (gmax - gmin), gmin, self.smin
            elif self.scaling == "center":
                fac, sub, add = np.ones(n), gmean, np.zeros(n)
            elif self.scaling == "scalecenter":
                fac, sub, add = (self.smax - self.smin) / (gmax - gmin), gmean, self.smin
            else:
                fac, sub, add = (self.smax - self.smin) / gsig, gmean, self.smin
            self.scale[s] = (fac, sub, add + np.zeros(n))
        # network shape and weights
        nh = int(one("global_hidden_layers_short")[0])
        nodes = [int(x) for x in one("global_nodes_short")[:nh]]
        acts = one("global_activation_short")[:nh] + ["l"]
        self.nets = {}
        for s in syms:
            z = atomic_number(s)
            w = [float(l.split()[0]) for l in open("%s/weights.%03d.data" % (d, z))
                 if l.strip() and l[0] != "#"]
            sizes = [len(self.sf[s])] + nodes + [1]
            layers, c = [], 0
            for i in range(1, len(sizes)):
                nin, nout = sizes[i - 1], sizes[i]
                # setConnections: for each previous neuron j, for each neuron k: W[k][j]
                W = np.array(w[c:c + nin * nout]).reshape(nin, nout).T
                c += nin * nout
                b = np.array(w[c:c + nout])
                c += nout
                layers.append((W, b, acts[i - 1]))
            if c != len(w):
                raise SystemExit("weights.%03d.data: %d values, the network has %d" % (z, len(w), c))
            self.nets[s] = layers


# ---- activations: value and derivative ---------------------------------------


def activation(a, x):
    if a == "l":
        return x, np.ones_like(x)
    if a == "t":
        t = np.tanh(x)
        return t, 1 - t * t
    if a == "s":
        s = 1 / (1 + np.exp(-x))
        return s, s * (1 - s)
    if a == "p":
        # n2p2 clips at |x| > 35
        e = np.exp(np.clip(x, -35, 35))
        v = np.where(x > 35, x, np.where(x < -35, 0.0, np.log(1 + e)))
        dv = np.where(x > 35, 1.0, np.where(x < -35, 0.0, 1 / (1 + 1 / e)))
        return v, dv
    if a == "r":
        return np.maximum(x, 0), (x > 0).astype(float)
    if a == "g":
        g = np.exp(-0.5 * x * x)
        return g, -x * g
    if a == "c":
        return np.cos(x), -np.sin(x)
    if a == "S":
        s = 1 / (1 + np.exp(-x))
        return 1 - s, s * (s - 1)
    if a == "e":
        e = np.exp(-x)
        return e, -e
    if a == "h":
        return x * x, 2 * x
    raise SystemExit("unknown activation '%s'" % a)


def network(layers, x):
    """Output and d output / d input."""
    h, J = x, np.eye(len(x))
    for W, b, a in layers:
        v, dv = activation(a, W @ h + b)
        J = dv[:, None] * (W @ J)
        h = v
    return h[0], J[0]


# ---- input.data --------------------------------------------------------------


def read_input_data(path):
    out, cur = [], None
    for line in open(path):
        p = line.split()
        if not p:
            continue
        if p[0] == "begin":
            cur = dict(lattice=[], sym=[], pos=[])
        elif p[0] == "lattice":
            cur["lattice"].append([float(x) for x in p[1:4]])
        elif p[0] == "atom":
            cur["pos"].append([float(x) for x in p[1:4]])
            cur["sym"].append(p[4])
        elif p[0] == "end":
            if len(cur["lattice"]) not in (0, 3):
                raise SystemExit("strange number of lattice vectors")
            cur["pos"] = np.array(cur["pos"])
            cur["lattice"] = np.array(cur["lattice"]) if cur["lattice"] else None
            out.append(cur)
    return out


# ---- the model -----------------------------------------------------------------


def cutoff(pot, r, rc):
    rci = pot.alpha * rc
    x = (r - rci) / (rc - rci)
    inside = r < rc
    f = np.where(r < rci, 1.0, 0.5 * (np.cos(np.pi * x) + 1))
    df = np.where(r < rci, 0.0, -0.5 * np.pi / (rc - rci) * np.sin(np.pi * x))
    return np.where(inside, f, 0.0), np.where(inside, df, 0.0)


def radial(pot, r, eta, rs, rc):
    """exp(-eta (r - rs)^2) f_c(r) and its derivative in r."""
    fc, dfc = cutoff(pot, r, rc)
    g = np.exp(-eta * (r - rs) ** 2)
    return g * fc, g * (dfc - 2 * eta * (r - rs) * fc)


def neighbours(pot, st):
    """Per atom: (indices j, vectors r_j + images - r_i) within the largest cutoff."""
    pos = st["pos"].copy()
    n = len(pos)
    rc = pot.rmax
    shifts = [np.zeros(3)]
    if st["lattice"] is not None:
        H = st["lattice"]
        # Structure::remap: atoms into the cell, then enough images for the cutoff
        frac = np.linalg.solve(H.T, pos.T).T
        frac -= np.floor(frac)
        pos = frac @ H
        cnt = []
        for a in range(3):
            b, c = H[(a + 1) % 3], H[(a + 2) % 3]
            nrm = np.cross(b, c)
            proj = abs(H[a] @ nrm) / np.linalg.norm(nrm)
            m = 0
            while m * proj <= rc:
                m += 1
            cnt.append(m)
        shifts = [i * H[0] + j * H[1] + k * H[2]
                  for i in range(-cnt[0], cnt[0] + 1)
                  for j in range(-cnt[1], cnt[1] + 1)
                  for k in range(-cnt[2], cnt[2] + 1)]
    S = np.array(shifts)
    nb = []
    for i in range(n):
        d = (pos[None, :, :] + S[:, None, :] - pos[i]).reshape(-1, 3)
        idx = np.tile(np.arange(n), len(S))
        r = np.linalg.norm(d, axis=1)
        keep = (r <= rc) & (r > 0)
        nb.append((idx[keep], d[keep], r[keep]))
    return nb


def groups(fs):
    """Functions sharing type, neighbour elements and cutoff (hence their pairs), by index."""
    g = {}
    for q, f in enumerate(fs):
        g.setdefault((f["type"], f["e1"], f["e2"], f["rc"]), []).append(q)
    return g


def atom_terms(pot, sym, species, j, d, r):
    """G (D) of one atom and dG/dr_e (D, E, 3) over its neighbour edges e."""
    fs = pot.sf[sym]
    E = len(j)
    G = np.zeros(len(fs))
    dG = np.zeros((len(fs), E, 3))
    if E == 0:
        return G, dG
    u = d / r[:, None]
    el = species[j]
    a, b = np.triu_indices(E, 1)
    for (t, e1, e2, rc), qs in groups(fs).items():
        col = lambda k: np.array([fs[q][k] for q in qs])[:, None]
        eta, rs = col("eta"), col("rs")
        if t == 2:
            m = (el == e1) & (r < rc)
            v, dv = radial(pot, r[m][None, :], eta, rs, rc)
            G[qs] = v.sum(axis=1)
            dG[np.ix_(qs, np.nonzero(m)[0])] = dv[:, :, None] * u[m][None, :, :]
            continue
        pm = ((el[a] == e1) & (el[b] == e2)) | ((el[a] == e2) & (el[b] == e1))
        pm &= (r[a] < rc) & (r[b] < rc)
        A, B = a[pm], b[pm]
        if len(A) == 0:
            continue
        zeta, lam = col("zeta"), col("lam")
        dij, dik, rij, rik = d[A], d[B], r[A], r[B]
        cos = np.einsum("ij,ij->i", dij, dik) / (rij * rik)
        vij, dvij = radial(pot, rij[None, :], eta, rs, rc)
        vik, dvik = radial(pot, rik[None, :], eta, rs, rc)
        base = 1 + lam * cos[None, :]
        ok = base > 0
        bb = np.where(ok, base, 1.0)
        p = np.where(ok, bb ** zeta, 0.0)
        dp = np.where(ok, zeta * lam * bb ** (zeta - 1), 0.0)  # d/dcos
        djk = dik - dij
        vjk, dvjk = np.ones_like(vij), np.zeros_like(vij)
        if t == 3:
            rjk = np.linalg.norm(djk, axis=1)
            vjk, dvjk = radial(pot, rjk[None, :], eta, rs, rc)
        norm = 2.0 ** (1 - zeta)
        pn = norm * p
        G[qs] = (pn * vij * vik * vjk).sum(axis=1)
        # d/d r_ij and d/d r_ik as a1 r_ij + a2 r_ik and b1 r_ij + b2 r_ik, with
        # d cos/d r_ij = r_ik/(r_ij r_ik) - cos r_ij/r_ij^2 (and the same for r_ik)
        s1 = norm * dp * vij * vik * vjk
        inv = 1 / (rij * rik)
        a1 = pn * dvij * vik * vjk / rij - s1 * (cos / rij ** 2)
        a2 = s1 * inv
        b1 = a2
        b2 = pn * vij * dvik * vjk / rik - s1 * (cos / rik ** 2)
        if t == 3:
            # the R_jk factor, r_jk = r_ik - r_ij: d/d r_ik = +s4 r_jk, d/d r_ij = -s4 r_jk
            s4 = pn * vij * vik * dvjk / rjk
            a1 = a1 + s4
            a2 = a2 - s4
            b1 = b1 - s4
            b2 = b2 + s4
        # pairs to edges: each pair's two vectors summed into its edges j and k
        nf = len(qs)
        for c in range(3):
            xj, xk = dij[:, c], dik[:, c]
            vj = a1 * xj + a2 * xk
            vk = b1 * xj + b2 * xk
            for f in range(nf):
                dG[qs[f], :, c] = (np.bincount(A, weights=vj[f], minlength=E)
                                   + np.bincount(B, weights=vk[f], minlength=E))
    return G, dG


def evaluate(pot, st, forces=True):
    species = np.array([pot.index[s] for s in st["sym"]])
    n = len(species)
    st = dict(st)
    st["pos"] = st["pos"] * pot.conv_length
    if st["lattice"] is not None:
        st["lattice"] = st["lattice"] * pot.conv_length
    nb = neighbours(pot, st)
    e_nn = 0.0
    F = np.zeros((n, 3))
    for i in range(n):
        s = st["sym"][i]
        j, d, r = nb[i]
        G, dG = atom_terms(pot, s, species, j, d, r)
        fac, sub, add = pot.scale[s]
        x = add + fac * (G - sub)
        o, dodx = network(pot.nets[s], x)
        e_nn += o
        if forces:
            # dE/dr_e over the edges, then to atoms: r_e = r_j - r_i
            ge = np.einsum("q,qec->ec", dodx * fac, dG)
            np.add.at(F, j, -ge)
            F[i] += ge.sum(axis=0)
    energy = e_nn / pot.conv_energy + n * pot.mean_energy if pot.normalize else e_nn
    energy += sum(pot.offset[s] for s in st["sym"])
    F = F * pot.conv_length / pot.conv_energy if pot.normalize else F
    return energy, F


def main(argv):
    fd = None
    if len(argv) > 1 and argv[1] == "--fd":
        fd = float(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) != 3:
        raise SystemExit(__doc__.split("\n\n")[1])
    pot = Potential(argv[1])
    structures = read_input_data(argv[2])
    for st in structures:
        e, F = evaluate(pot, st)
        print(json.dumps({"energy": e, "forces": F.tolist()}))
    if fd:
        st = min(structures, key=lambda s: len(s["pos"]))
        _, F = evaluate(pot, st)
        worst_abs = worst_rel = 0.0
        for i in sorted({0, len(st["pos"]) - 1}):
            for c in range(3):
                p, m = dict(st), dict(st)
                p["pos"] = st["pos"].copy()
                m["pos"] = st["pos"].copy()
                p["pos"][i, c] += fd
                m["pos"][i, c] -= fd
                num = -(evaluate(pot, p, False)[0] - evaluate(pot, m, False)[0]) / (2 * fd)
                worst_abs = max(worst_abs, abs(num - F[i, c]))
                worst_rel = max(worst_rel, abs(num - F[i, c]) / max(abs(F[i, c]), 1e-3))
        print(json.dumps({"fd_max_abs": worst_abs, "fd_max_rel": worst_rel}))


if __name__ == "__main__":
    main(sys.argv)
