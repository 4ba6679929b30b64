#!/usr/bin/python3
"""Compare nnp_eval.py's output with mlip-eval's predictions.

usage: compare.py EVAL_JSONL PRED_XYZ INDICES E_REL F_TOL

EVAL_JSONL: nnp_eval.py's lines for a subset of the structures of PRED_XYZ
(mlip-eval -p), which INDICES lists (comma-separated, 0-based, in order).
Fails (exit 1) unless every energy agrees to E_REL relative and every force
component to F_TOL times max(1, largest |F| of the structure). Prints the
largest differences.
"""
import json
import re
import sys

import numpy as np


def read_pred(path):
    """[(energy, forces)] from an extxyz file with energy= and a forces column."""
    lines = open(path).read().split("\n")
    out, k = [], 0
    while k < len(lines) and lines[k].strip():
        n = int(lines[k])
        head = lines[k + 1]
        e = float(re.search(r"(?:^|\s)energy=(\S+)", head).group(1))
        props = re.search(r"Properties=(\S+)", head).group(1).split(":")
        col, start = 0, None
        for name, typ, cnt in zip(props[0::3], props[1::3], props[2::3]):
            if name == "forces":
                start = col
            col += int(cnt)
        F = np.array([[float(x) for x in lines[k + 2 + i].split()[start:start + 3]]
                      for i in range(n)])
        out.append((e, F))
        k += n + 2
    return out


def main(a):
    if len(a) != 6:
        raise SystemExit(__doc__)
    ev = [json.loads(l) for l in open(a[1]) if l.strip() and '"energy"' in l]
    pred = read_pred(a[2])
    idx = [int(x) for x in a[3].split(",")]
    e_rel, f_tol = float(a[4]), float(a[5])
    if len(ev) != len(idx):
        raise SystemExit("%d evaluations for %d indices" % (len(ev), len(idx)))
    worst_e = worst_f = 0.0
    for r, i in zip(ev, idx):
        e, F = pred[i]
        de = abs(r["energy"] - e) / abs(e)
        df = np.abs(np.array(r["forces"]) - F).max() / max(1.0, np.abs(F).max())
        worst_e, worst_f = max(worst_e, de), max(worst_f, df)
        if de > e_rel or df > f_tol:
            print("structure %d: energy %.17g vs %.17g (%.3g relative), forces %.3g" %
                  (i, r["energy"], e, de, df))
            sys.exit(1)
    print("%d structures: energy within %.3g relative, forces within %.3g" %
          (len(idx), worst_e, worst_f))


if __name__ == "__main__":
    main(sys.argv)
