#!/usr/bin/env python3
"""parity.py PREDICTIONS.xyz - a textual parity summary of mlip-eval --predictions.

Reads the extxyz that mlip-eval writes (predictions in energy / stress /
forces, the DFT labels in ref_energy / ref_stress / ref_forces) with the
standard library only, and prints per-atom energy and force parity tables and
a small character plot of predicted against DFT force components.
"""
import math
import shlex
import sys


def frames(path):
    with open(path) as f:
        lines = f.read().splitlines()
    k = 0
    while k < len(lines):
        if not lines[k].strip():
            k += 1
            continue
        n = int(lines[k])
        info = dict(kv.split("=", 1) for kv in shlex.split(lines[k + 1]) if "=" in kv)
        spec = info["Properties"].split(":")
        cols, c = {}, 0
        for i in range(0, len(spec), 3):
            width = int(spec[i + 2])
            cols[spec[i]] = (c, width)
            c += width
        rows = [lines[k + 2 + i].split() for i in range(n)]
        def col(name):
            if name not in cols:
                return None
            a, w = cols[name]
            return [[float(x) for x in r[a:a + w]] for r in rows]
        yield n, info, col("forces"), col("ref_forces")
        k += n + 2


def main(path):
    e_pred, e_ref, f_pred, f_ref = [], [], [], []
    for n, info, fp, fr in frames(path):
        if "ref_energy" in info:
            e_pred.append(float(info["energy"]) / n)
            e_ref.append(float(info["ref_energy"]) / n)
        if fp and fr:
            for a, b in zip(fp, fr):
                f_pred.extend(a)
                f_ref.extend(b)
    if e_ref:
        err = [abs(p - r) * 1000 for p, r in zip(e_pred, e_ref)]
        print("energy per atom (eV/atom), %d structures: MAE %.2f meV/atom, max %.2f meV/atom"
              % (len(err), sum(err) / len(err), max(err)))
        print("  %12s %12s %9s" % ("DFT", "mlip", "error meV"))
        order = sorted(range(len(e_ref)), key=lambda i: e_ref[i])
        for i in [order[int(q * (len(order) - 1))] for q in (0, 0.25, 0.5, 0.75, 1)]:
            print("  %12.4f %12.4f %9.2f" % (e_ref[i], e_pred[i], (e_pred[i] - e_ref[i]) * 1000))
    if f_ref:
        print("force components (eV/Å), %d values:" % len(f_ref))
        print("  %-16s %7s %9s" % ("|F| DFT in", "count", "MAE"))
        edges = [0, 0.25, 0.5, 1, 2, math.inf]
        for lo, hi in zip(edges, edges[1:]):
            sel = [abs(p - r) for p, r in zip(f_pred, f_ref) if lo <= abs(r) < hi]
            if sel:
                print("  [%4.2f, %4s) %11d %9.4f" % (lo, "inf" if hi == math.inf else "%.2f" % hi,
                                                  len(sel), sum(sel) / len(sel)))
        lim = max(1e-9, sorted(abs(x) for x in f_ref)[int(0.99 * (len(f_ref) - 1))])
        W, H = 41, 17
        grid = [[" "] * W for _ in range(H)]
        for i in range(H):
            grid[i][W // 2] = "|"
        grid[H // 2] = ["-"] * W
        for k in range(W):
            i = H - 1 - round(k * (H - 1) / (W - 1))
            grid[i][k] = "."
        for p, r in zip(f_pred, f_ref):
            x = round((r / lim + 1) / 2 * (W - 1))
            y = H - 1 - round((p / lim + 1) / 2 * (H - 1))
            if 0 <= x < W and 0 <= y < H:
                grid[y][x] = "o" if grid[y][x] in " .-|" else "@"
        print("  predicted vs DFT force component, both axes ±%.2f eV/Å (the dots: y = x)" % lim)
        for row in grid:
            print("   " + "".join(row))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: parity.py PREDICTIONS.xyz")
    main(sys.argv[1])
