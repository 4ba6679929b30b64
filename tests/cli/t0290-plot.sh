# mlip-plot: the learning curve of a real run and the parity plots of its
# model's predictions are well-formed SVG with one point per record or
# pair; the MAE and RMSE in the parity panels are mlip-eval's; the same
# input gives the same bytes; and bad input fails with the file, the line
# and the documented exit status.
. tests/cli/lib.sh
D="$TMPD"
si_model "$D"
M="$D/run/inference_ckpt.mlip"

# mlip-eval with the metrics the panels show (the model's tasks report no rmse)
cat > "$D/tasks.yaml" <<'CFG'
tasks:
  - {name: energy, property: energy, datasets: [si], loss: {name: per_atom_mse, coefficient: 20},
     normalizer: rmsd, element_references: fit, metrics: [per_atom_mae, per_atom_mse]}
  - {name: forces, property: forces, datasets: [si], loss: mse, metrics: [mae, rmse]}
  - {name: stress, property: stress, datasets: [si], loss: mse, metrics: [mae, rmse]}
CFG
mlip-eval -q --tasks "$D/tasks.yaml" -p "$D/pred.xyz" "$M" "$D/test.mlb" > "$D/eval.json" ||
	die "mlip-eval failed"

# --- parity
expect_status 0 mlip-plot parity -o "$D/parity.svg" "$D/pred.xyz"
[ -s "$TMPD/out" ] && die "parity -o wrote to stdout"
[ -e "$D/parity.svg.tmp" ] && die "temporary file left behind"
$PY - "$D/parity.svg" "$D/eval.json" <<'PYEOF' || die "parity SVG"
import json, math, sys
import xml.etree.ElementTree as ET
NS = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()          # well-formed XML, or this raises
m = json.load(open(sys.argv[2]))
assert root.tag == NS + "svg", root.tag
assert root.get("viewBox") == "0 0 %s %s" % (root.get("width"), root.get("height")), root.attrib
panels = {g.get("data-panel"): g for g in root.iter(NS + "g") if g.get("class") == "panel"}
assert sorted(panels) == ["energy", "forces", "stress"], sorted(panels)
want_n = {"energy": m["structures"], "forces": 3 * m["atoms"], "stress": 9 * m["structures"]}
# mlip-eval's numbers; energy RMSE per atom is the root of per_atom_mse
want = {"energy": (m["si,energy,per_atom_mae"], math.sqrt(m["si,energy,per_atom_mse"])),
        "forces": (m["si,forces,mae"], m["si,forces,rmse"]),
        "stress": (m["si,stress,mae"], m["si,stress,rmse"])}
unit = {"energy": "eV/atom", "forces": "eV/\u00c5", "stress": "eV/\u00c5\u00b3"}
for name, g in panels.items():
    circles = list(g.iter(NS + "circle"))
    stats = [s for s in g.iter(NS + "g") if s.get("class") == "stats"][0]
    n = int(stats.get("data-n"))
    assert len(circles) == n == want_n[name], (name, len(circles), n, want_n[name])
    mae, rmse = float(stats.get("data-mae")), float(stats.get("data-rmse"))
    wm, wr = want[name]
    if name == "stress":
        # stress is summed in another component order: equal to rounding
        assert abs(mae - wm) <= 1e-12 * wm and abs(rmse - wr) <= 1e-12 * wr, (mae, wm, rmse, wr)
    else:
        # energy and forces: summed in mlip-eval's order, so to the last bit
        assert mae == wm, (name, repr(mae), repr(wm))
        assert abs(rmse - wr) <= 1e-14 * wr, (name, repr(rmse), repr(wr))
    texts = ["".join(t.itertext()) for t in stats.iter(NS + "text")]
    assert texts[0] == "MAE %.4g %s" % (wm, unit[name]), (texts[0], wm)
    assert texts[1] == "RMSE %.4g %s" % (wr, unit[name]), (texts[1], wr)
    print(name, texts[0], "| mlip-eval:", wm)
PYEOF
if command -v xmllint >/dev/null 2>&1; then
	xmllint --noout "$D/parity.svg" || die "xmllint rejects the parity SVG"
fi

# the same input, the same bytes; standard input is the same input
mlip-plot parity -t T "$D/pred.xyz" > "$D/p1.svg" || die "parity to stdout"
mlip-plot parity -t T - < "$D/pred.xyz" > "$D/p2.svg" || die "parity from stdin"
mlip-plot parity -t T < "$D/pred.xyz" > "$D/p3.svg" || die "parity from stdin"
cmp -s "$D/p1.svg" "$D/p2.svg" && cmp -s "$D/p1.svg" "$D/p3.svg" || die "parity output differs between runs"
mlip-plot parity -o "$D/parity2.svg" "$D/pred.xyz" || die "parity again"
cmp -s "$D/parity.svg" "$D/parity2.svg" || die "parity -o differs between runs"
# through a pipe, as in the man page
mlip-eval -q -p - --jsonl "$D/hist.jsonl" "$M" "$D/test.mlb" | mlip-plot parity -t T > "$D/p4.svg" ||
	die "mlip-eval -p - | mlip-plot parity"
cmp -s "$D/p1.svg" "$D/p4.svg" || die "parity through a pipe differs"

# --- curve
expect_status 0 mlip-plot curve -o "$D/curve.svg" "$D/train.jsonl"
$PY - "$D/curve.svg" "$D/train.jsonl" <<'PYEOF' || die "curve SVG"
import json, re, sys
import xml.etree.ElementTree as ET
NS = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
assert root.get("viewBox") == "0 0 800 500", root.attrib
recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
series = {p.get("data-name"): p for p in root.iter(NS + "path") if p.get("class") == "series"}
assert sorted(series) == ["loss", "val/loss"], sorted(series)
for key, typ in (("loss", "train"), ("val/loss", "val")):
    rows = [r for r in recs if r["type"] == typ and r.get(key) is not None]
    pts = re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", series[key].get("d"))
    assert len(pts) == len(rows) >= 2, (key, len(pts), len(rows))
    # x grows with the step; y (log scale) falls from the first to the last record
    assert float(pts[-1][0]) > float(pts[0][0])
    assert (float(pts[-1][1]) > float(pts[0][1])) == (rows[-1][key] < rows[0][key])
    print(key, len(pts), "points")
# the L-BFGS phase starts after the last AdamW record
i = next(k for k, r in enumerate(recs) if r.get("optimizer") == "lbfgs")
band = [g for g in root.iter(NS + "g") if g.get("class") == "lbfgs"]
assert len(band) == 1 and float(band[0].get("data-step")) == recs[i - 1]["step"], band
# and its records have hollow markers: white fill, one per L-BFGS record of each key
hollow = sum(1 for g in root.iter(NS + "g") if g.get("class") == "markers" and g.get("fill") == "#ffffff"
             for _ in g.iter(NS + "circle"))
n_lbfgs = sum(1 for r in recs if r.get("optimizer") == "lbfgs" and r["type"] in ("train", "val")
              and (r.get("loss") is not None or r.get("val/loss") is not None))
assert hollow == n_lbfgs, (hollow, n_lbfgs)
PYEOF
mlip-plot curve -o "$D/curve2.svg" "$D/train.jsonl" || die "curve again"
cmp -s "$D/curve.svg" "$D/curve2.svg" || die "curve differs between runs"

# --key: one series per key, in the order given; null values are skipped
expect_status 0 mlip-plot curve -k 'val/si,forces,mae' -k loss --linear "$D/train.jsonl"
n_val=$(grep -c '"type": *"val"' "$D/train.jsonl")
$PY - "$TMPD/out" "$n_val" <<'PYEOF' || die "curve --key"
import re, sys
import xml.etree.ElementTree as ET
NS = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
paths = [p for p in root.iter(NS + "path") if p.get("class") == "series"]
assert [p.get("data-name") for p in paths] == ["val/si,forces,mae", "loss"]
assert len(re.findall(r"[ML]", paths[0].get("d"))) == int(sys.argv[2])
PYEOF
printf '%s\n' '{"type":"train","step":1,"loss":2.0,"x":null}' '{"type":"val","step":1,"x":null,"val/loss":1}' \
	'{"type":"train","step":2,"loss":1.0,"x":3}' > "$D/nulls.jsonl"
expect_status 0 mlip-plot curve -k x "$D/nulls.jsonl"
expect_eq "$(grep -o 'd="[^"]*"' "$TMPD/out" | grep -c 'M')" 1 "one path for x"
grep 'data-name="x"' "$TMPD/out" | grep -q 'd="M[0-9.]*,[0-9.]*"' || die "x: one point expected"

# --- errors: file and line, and the exit status
{ head -n 2 "$D/train.jsonl"; echo '{"type":"val","step":'; tail -n +3 "$D/train.jsonl"; } > "$D/bad.jsonl"
expect_status 3 mlip-plot curve -o "$D/bad.svg" "$D/bad.jsonl"
expect_err "bad.jsonl:3: not JSON"
[ -e "$D/bad.svg" ] || [ -e "$D/bad.svg.tmp" ] && die "a failed run left an output file"
expect_status 2 mlip-plot curve -k nope "$D/train.jsonl"
expect_err "has 'nope'; numeric keys: "
expect_err "val/si,forces,mae"
[ -s "$TMPD/out" ] && die "an error wrote to stdout"
expect_status 2 mlip-plot curve -k optimizer "$D/nulls.jsonl"
expect_status 3 mlip-plot curve -k optimizer "$D/train.jsonl"
expect_err "train.jsonl:"
expect_err "'optimizer' is not a number"
tail -n 1 "$D/train.jsonl" > "$D/end.jsonl"
expect_status 3 mlip-plot curve "$D/end.jsonl"
expect_err "end.jsonl: no train or val records"
printf '{"type":"val","step":1,"val/loss":null}\n' > "$D/allnull.jsonl"
expect_status 3 mlip-plot curve "$D/allnull.jsonl"
expect_err "nothing to plot"
expect_status 4 mlip-plot curve "$D/missing.jsonl"
expect_err "cannot open '$D/missing.jsonl'"
expect_status 4 mlip-plot parity "$D/missing.xyz"

head -n 50 "$D/pred.xyz" > "$D/trunc.xyz"
expect_status 3 mlip-plot parity -o "$D/trunc.svg" "$D/trunc.xyz"
expect_err "trunc.xyz:50: truncated: the frame of line 1 has"
[ -e "$D/trunc.svg" ] && die "a failed run left an output file"
sed '3s/ -0\.[0-9]*/ x/' "$D/pred.xyz" > "$D/badnum.xyz"
expect_status 3 mlip-plot parity "$D/badnum.xyz"
expect_err "badnum.xyz:3: atom 1, column"
# predictions without reference labels (unlabelled structures): nothing to plot
sed -e 's/ ref_energy=[^ ]*//; s/ ref_stress="[^"]*"//; s/:ref_forces:R:3//' "$D/pred.xyz" |
	awk 'NR == 1 || /^[0-9]+$/ || /Properties/ { print; next } { print $1, $2, $3, $4, $5, $6, $7 }' \
	> "$D/nolabels.xyz"
expect_status 3 mlip-plot parity "$D/nolabels.xyz"
expect_err "nothing to plot: no frame has ref_energy"

# usage errors
expect_status 2 mlip-plot
expect_status 2 mlip-plot scatter "$D/pred.xyz"
expect_err "unknown plot 'scatter'"
expect_status 2 mlip-plot parity -k loss "$D/pred.xyz"
expect_status 2 mlip-plot curve "$D/train.jsonl" "$D/train.jsonl"
expect_status 2 mlip-plot curve -o "$D/c.png" "$D/train.jsonl"
expect_err "rsvg-convert"
expect_status 2 mlip-plot curve -k
expect_err "needs a value"
exit 0
