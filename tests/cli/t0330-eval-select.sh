# Restricting and re-tasking: --task, --dataset (also inside mixed batches),
# --tasks FILE; --per-structure lines agree with the summary metrics.
. tests/cli/lib.sh
D="$TMPD"
mlip-collate -q -c 5.0 -d si --split 0.9 --seed 1 -o "$D/train.mlb" -o "$D/val.mlb" share/demo/si-train.json || die "collate"
mlip-collate -q -c 5.0 -d alt -o "$D/alt.mlb" share/demo/si-test.json || die "collate alt"
cat > "$D/cfg.yaml" <<CFG
seed: 1
data: {train: $D/train.mlb}
model: {cutoff: 5.0, elements: [Si], hidden: [8]}
tasks:
  - {name: energy, property: energy, datasets: [si, alt], loss: per_atom_mse, normalizer: rmsd, element_references: fit, metrics: [mae, per_atom_mae]}
  - {name: forces, property: forces, datasets: [si, alt], loss: mse, metrics: [mae, rmse]}
  - {name: stress, property: stress, datasets: [si], loss: mse, metrics: [mae]}
optim: {lr: 0.005}
schedule: {epochs: 1}
CFG
mlip-train -q -c "$D/cfg.yaml" -o "$D/run" > /dev/null || die "training failed"
M="$D/run/inference_ckpt.mlip"
# mixed.mlb: the frames of both datasets interleaved, so batches hold both
mlip-collate --dump --dump-format extxyz "$D/val.mlb" > "$D/val.xyz"
mlip-collate --dump --dump-format extxyz "$D/alt.mlb" > "$D/alt.xyz"
$PY - "$D/val.xyz" "$D/alt.xyz" > "$D/mixed.xyz" <<'PYEOF'
import sys
def frames(path):
    lines = open(path).read().splitlines(True)
    out, i = [], 0
    while i < len(lines):
        n = int(lines[i]); out.append("".join(lines[i:i + n + 2])); i += n + 2
    return out
a, b = frames(sys.argv[1]), frames(sys.argv[2])
mixed = []
while a or b:
    if a: mixed.append(a.pop(0))
    for _ in range(3):
        if b: mixed.append(b.pop(0))
sys.stdout.write("".join(mixed))
PYEOF
mlip-collate -q -c 5.0 -o "$D/mixed.mlb" "$D/mixed.xyz" || die "collate mixed"

ev() { out=$1; shift; mlip-eval "$@" > "$D/$out" || die "mlip-eval $* failed"; }
ev all.json "$M" "$D/val.mlb" "$D/alt.mlb"
ev alt_only.json "$M" "$D/alt.mlb"
ev e.json --task energy "$M" "$D/val.mlb" "$D/alt.mlb"
ev f.json -t forces "$M" "$D/val.mlb" "$D/alt.mlb"
ev s.json --task stress "$M" "$D/val.mlb" "$D/alt.mlb"
ev ef.json --task energy --task forces "$M" "$D/val.mlb" "$D/alt.mlb"
ev d_alt.json --dataset alt "$M" "$D/val.mlb" "$D/alt.mlb"
ev mixed.json "$M" "$D/mixed.mlb"
ev mixed_alt.json -d alt "$M" "$D/mixed.mlb"
ev mixed_both.json -d alt -d si "$M" "$D/mixed.mlb"
ev mixed_si_f.json -d si -t forces "$M" "$D/mixed.mlb"
$PY - "$D" <<'PYEOF' || die "restriction"
import json, sys, os
d = sys.argv[1]
r = {n[:-5]: json.load(open(os.path.join(d, n))) for n in os.listdir(d) if n.endswith(".json")}
def metrics(x): return {k: v for k, v in x.items() if k.count(",") == 2}
def close(a, b, tol=1e-9):
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tol * max(abs(a), abs(b), 1e-300))
allk = set(metrics(r["all"]))
want = {f"{ds},{t}" for ds in ("si", "alt") for t in ("energy,mae", "energy,per_atom_mae", "forces,mae", "forces,rmse", "stress,mae")}
assert allk == want, allk
assert r["all"]["alt,stress,mae"] is None and r["all"]["si,stress,mae"] is not None
assert r["all"]["structures"] == 32
# --task: only that task's keys, and the loss is that task's share of the total
for name, tasks in (("e", ["energy"]), ("f", ["forces"]), ("s", ["stress"]), ("ef", ["energy", "forces"])):
    keys = set(metrics(r[name]))
    assert keys == {k for k in allk if k.split(",")[1] in tasks}, (name, keys)
    for k in keys:
        assert r[name][k] == r["all"][k], (name, k)
    assert r[name]["structures"] == 32
total = r["e"]["loss"] + r["f"]["loss"] + r["s"]["loss"]
assert close(total, r["all"]["loss"], 1e-8), (total, r["all"]["loss"])
assert close(r["e"]["loss"] + r["f"]["loss"], r["ef"]["loss"], 1e-8)
assert r["e"]["loss"] > 0 and r["f"]["loss"] > 0 and r["s"]["loss"] > 0
# --dataset: other datasets' structures are skipped entirely
x, y = dict(r["d_alt"]), dict(r["alt_only"])
for z in (x, y):
    z.pop("atoms_per_s"); z.pop("timestamp")
assert x == y, (x, y)
assert all(k.startswith("alt,") for k in metrics(r["d_alt"]))
# inside mixed batches: the same micro-averages whatever the batching
assert r["mixed"]["structures"] == 32 and r["mixed_alt"]["structures"] == 25
assert set(metrics(r["mixed_alt"])) == set(metrics(r["alt_only"]))
for k, v in metrics(r["alt_only"]).items():
    assert close(r["mixed_alt"][k], v), (k, r["mixed_alt"][k], v)
for k, v in metrics(r["all"]).items():
    assert close(r["mixed"][k], v), (k, r["mixed"][k], v)
    assert close(r["mixed_both"][k], v), (k, r["mixed_both"][k], v)
assert set(metrics(r["mixed_si_f"])) == {"si,forces,mae", "si,forces,rmse"}
assert close(r["mixed_si_f"]["si,forces,mae"], r["all"]["si,forces,mae"])
assert r["mixed_si_f"]["structures"] == 7
PYEOF

# --per-structure: one line per structure in input order, then the summary;
# the lines reproduce the summary's metrics
expect_status 0 mlip-eval --per-structure "$M" "$D/mixed.mlb"
mlip-collate --dump "$D/mixed.mlb" > "$D/mixed.dump"
$PY - "$TMPD/out" "$D/mixed.dump" "$D/mixed.json" <<'PYEOF' || die "per-structure lines"
import json, sys, math
lines = [json.loads(l) for l in open(sys.argv[1])]
dump = [json.loads(l) for l in open(sys.argv[2])]
summary = json.load(open(sys.argv[3]))
rows, last = lines[:-1], lines[-1]
assert len(rows) == len(dump) == 32, len(rows)
assert "structures" in last and "sid" not in last
assert [x["sid"] for x in rows] == [x["sid"] for x in dump]
assert [x["dataset"] for x in rows] == [x["dataset"] for x in dump]
assert [x["natoms"] for x in rows] == [x["natoms"] for x in dump]
for x, y in zip(rows, dump):
    assert math.isclose(x["energy_error"], x["energy"] - y["energy"], rel_tol=1e-12, abs_tol=1e-12)
def close(a, b): assert abs(a - b) <= 1e-9 * abs(b), (a, b)
for ds in ("si", "alt"):
    g = [x for x in rows if x["dataset"] == ds]
    close(sum(abs(x["energy_error"]) for x in g) / len(g), summary[ds + ",energy,mae"])
    close(sum(abs(x["energy_per_atom_error"]) for x in g) / len(g), summary[ds + ",energy,per_atom_mae"])
    n3 = sum(3 * x["natoms"] for x in g)
    close(sum(x["forces_mae"] * 3 * x["natoms"] for x in g) / n3, summary[ds + ",forces,mae"])
    close(math.sqrt(sum(x["forces_rmse"] ** 2 * 3 * x["natoms"] for x in g) / n3), summary[ds + ",forces,rmse"])
si = [x for x in rows if x["dataset"] == "si"]
close(sum(x["stress_mae"] for x in si) / len(si), summary["si,stress,mae"])
PYEOF
expect_status 0 mlip-eval --per-structure -d alt "$M" "$D/mixed.mlb"
[ "$(grep -c '"sid"' "$TMPD/out")" -eq 25 ] || die "--per-structure -d alt: not 25 lines"
[ "$(grep -c '"dataset":"alt"' "$TMPD/out")" -eq 25 ] || die "--per-structure -d alt: other datasets"
# labels that are absent give null errors
mlip-collate -q -c 5.0 -d si --exclude energy,stress -o "$D/nolab.mlb" share/demo/si-test.json
expect_status 0 mlip-eval --per-structure "$M" "$D/nolab.mlb"
head -n 1 "$TMPD/out" | grep -q '"energy_error":null,"energy_per_atom_error":null,"forces_mae":[0-9]' \
	|| die "absent labels: $(head -n 1 "$TMPD/out")"
head -n 1 "$TMPD/out" | grep -q '"stress_mae":null' || die "absent stress label"
expect_out '"si,energy,mae":null'

# --tasks FILE: other metrics and datasets with the model's normalizers
mlip-eval --per-structure -d alt "$M" "$D/alt.mlb" | head -n 25 > "$D/per.jsonl"
thr=$($PY -c '
import json, sys
e = sorted(abs(json.loads(l)["energy_error"]) for l in open(sys.argv[1]))
print(repr((e[11] + e[12]) / 2))' "$D/per.jsonl")
cat > "$D/tasks.yaml" <<TASKS
tasks:
  - {name: E, property: energy, datasets: [alt], loss: mae, metrics: [mse, energy_within_threshold], energy_threshold: $thr}
  - {name: F, property: forces, datasets: [alt], loss: l2norm, metrics: [mae, cosine_similarity, magnitude_error]}
TASKS
expect_status 0 mlip-eval --tasks "$D/tasks.yaml" "$M" "$D/alt.mlb"
$PY - "$TMPD/out" "$D/alt_only.json" "$D/per.jsonl" <<'PYEOF' || die "--tasks"
import json, sys
r, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
per = [json.loads(l) for l in open(sys.argv[3])]
keys = {k for k in r if k.count(",") == 2}
assert keys == {"alt,E,mse", "alt,E,energy_within_threshold", "alt,F,mae", "alt,F,cosine_similarity", "alt,F,magnitude_error"}, keys
assert r["alt,F,mae"] == ref["alt,forces,mae"]   # same model, same normalizers
mse = sum(x["energy_error"] ** 2 for x in per) / len(per)
assert abs(r["alt,E,mse"] - mse) <= 1e-9 * mse, (r["alt,E,mse"], mse)
assert r["alt,E,energy_within_threshold"] == 12 / 25, r["alt,E,energy_within_threshold"]
assert 0 < r["alt,F,cosine_similarity"] <= 1 and r["alt,F,magnitude_error"] > 0
assert r["loss"] > 0 and r["loss"] != ref["loss"]
PYEOF
expect_status 0 mlip-eval --tasks "$D/tasks.yaml" --task F "$M" "$D/alt.mlb"
expect_out '"alt,F,mae"'
grep -q '"alt,E,' "$TMPD/out" && die "--task F kept task E"
expect_status 2 mlip-eval --tasks "$D/tasks.yaml" --task forces "$M" "$D/alt.mlb"
expect_err "unknown task 'forces' (the tasks are: E, F)"
printf 'tasks:\n  - {name: E, property: energy, head: dipole, datasets: [alt], loss: mae}\n' > "$D/t2.yaml"
expect_status 2 mlip-eval --tasks "$D/t2.yaml" "$M" "$D/alt.mlb"
expect_err "t2.yaml:2:"
expect_err "unknown head 'dipole'"
printf 'model: {cutoff: 5.0}\n' > "$D/t3.yaml"
expect_status 2 mlip-eval --tasks "$D/t3.yaml" "$M" "$D/alt.mlb"
expect_err "no 'tasks' list"
exit 0
