# mlearn JSON -> stream -> --dump: every structure, energy, force and the
# converted stress survive exactly; the stream flows through a pipe.
. tests/cli/lib.sh
si="$MLIP_TOP/share/demo/si-test.json"
expect_status 0 mlip-collate -q -c 5.0 -d si -o "$TMPD/si.mlb" "$si"
[ -s "$TMPD/si.mlb" ] || die "no stream written"
[ -e "$TMPD/si.mlb.tmp" ] && die "temporary file left behind"
mlip-collate --dump "$TMPD/si.mlb" > "$TMPD/dump.jsonl" || die "dump failed"
# the same stream through a pipe, without a file
mlip-collate -q -c 5.0 -d si "$si" | mlip-collate --dump > "$TMPD/dump2.jsonl" || die "pipe failed"
cmp -s "$TMPD/dump.jsonl" "$TMPD/dump2.jsonl" || die "pipe and file streams differ"
$PY - "$si" "$TMPD/dump.jsonl" <<'PYEOF' || exit 1
import json, sys, math
ref = json.load(open(sys.argv[1]))
rows = [json.loads(l) for l in open(sys.argv[2])]
assert len(rows) == len(ref) == 25, (len(rows), len(ref))
for k, (r, d) in enumerate(zip(ref, rows)):
    assert d["sid"].endswith(":%d" % k), d["sid"]
    assert d["dataset"] == "si"
    assert d["natoms"] == len(r["structure"]["sites"])
    assert d["numbers"] == [14] * d["natoms"]
    assert d["energy"] == r["outputs"]["energy"]
    assert d["forces"] == [x for row in r["outputs"]["forces"] for x in row]
    pos = [x for s in r["structure"]["sites"] for x in s["xyz"]]
    assert d["positions"] == pos
    assert d["cell"] == [x for row in r["structure"]["lattice"]["matrix"] for x in row]
    assert d["pbc"] == [True, True, True]
    v = r["outputs"]["virial_stress"]   # kBar, VASP sign, xx yy zz xy yz zx
    want = [[v[0], v[3], v[5]], [v[3], v[1], v[4]], [v[5], v[4], v[2]]]
    for a in range(3):
        for b in range(3):
            w = -0.1 * want[a][b] / 160.21766208
            assert math.isclose(d["stress"][3 * a + b], w, rel_tol=1e-15, abs_tol=1e-18), (k, a, b)
    assert d["fixed"] == [False] * d["natoms"]
    # edges: both directions, all within the cutoff
    edges = {tuple(e) for e in d["edges"]}
    assert len(edges) == len(d["edges"])
    for (i, j, s1, s2, s3) in edges:
        assert (j, i, -s1, -s2, -s3) in edges
        c = d["cell"]
        p = d["positions"]
        r_ = [p[3*j+x] + s1*c[x] + s2*c[3+x] + s3*c[6+x] - p[3*i+x] for x in range(3)]
        dist = math.sqrt(sum(t*t for t in r_))
        assert 0 < dist < 5.0, dist
print("ok")
PYEOF
