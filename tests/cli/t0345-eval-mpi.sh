# mlip-eval under mpiexec -n 2 and -n 3: the same results as one process
# (apart from atoms_per_s and timestamp), per-structure lines and predictions
# in input order, one history line, statuses and messages once.
. tests/cli/lib.sh
command -v "$MPIEXEC" >/dev/null 2>&1 || die "$MPIEXEC is missing (make deps installs mpich)"
D="$TMPD"
mlip-collate -q -c 5.0 -d si -b 4 --split 0.9 --seed 1 -o "$D/train.mlb" -o "$D/val.mlb" share/demo/si-train.json || die "collate"
cat > "$D/cfg.yaml" <<CFG
seed: 1
data: {train: $D/train.mlb}
model: {cutoff: 5.0, elements: [Si], hidden: [8]}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse, normalizer: rmsd, element_references: fit, metrics: [mae, per_atom_mae, energy_within_threshold]}
  - {name: forces, property: forces, datasets: [si], loss: mse, metrics: [mae, rmse, cosine_similarity]}
  - {name: stress, property: stress, datasets: [si], loss: mse, metrics: [mae]}
optim: {lr: 0.005}
schedule: {epochs: 1}
CFG
mlip-train -q -c "$D/cfg.yaml" -o "$D/run" > /dev/null || die "training failed"
M="$D/run/inference_ckpt.mlip"
mpi() { n=$1; shift; timeout 120 $MPIEXEC -n "$n" "$@"; }
# 16 + 2 batches of streams and 4 collated from JSON: every rank gets several
in="$D/train.mlb $D/val.mlb share/demo/si-test.json"
mlip-eval -d si --per-structure -p "$D/p1.xyz" "$M" $in > "$D/o1.txt" || die "one process"
for n in 2 3; do
	mpi $n mlip-eval -d si --per-structure -p "$D/p$n.xyz" "$M" $in > "$D/o$n.txt" 2> "$D/e$n.txt" \
		|| { cat "$D/e$n.txt" >&2; die "mpiexec -n $n failed"; }
	[ -s "$D/e$n.txt" ] && die "-n $n wrote to stderr: $(cat "$D/e$n.txt")"
	cmp -s "$D/p1.xyz" "$D/p$n.xyz" || die "-n $n: predictions differ from one process"
	$PY - "$D/o1.txt" "$D/o$n.txt" <<'PYEOF' || die "-n $n: results differ from one process"
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
assert len(a) == len(b) == 97 + 1, (len(a), len(b))
assert a[:-1] == b[:-1], "per-structure lines differ"
x, y = a[-1], b[-1]
for d in (x, y):
    d.pop("atoms_per_s"); d.pop("timestamp")
# sums over ranks differ from one process only in the last bits (17 digits are printed)
assert x.keys() == y.keys()
for k in x:
    if isinstance(x[k], float) and isinstance(y[k], float):
        assert abs(x[k] - y[k]) <= 1e-12 * max(abs(x[k]), 1e-300), (k, x[k], y[k])
    else:
        assert x[k] == y[k], (k, x[k], y[k])
assert x["structures"] == 97 and x["si,forces,mae"] > 0
PYEOF
done

# restrictions and --jsonl: one line from all the ranks
mlip-eval --task forces --jsonl "$D/h1.jsonl" "$M" $in || die "one process --jsonl"
mpi 2 mlip-eval --task forces --jsonl "$D/h2.jsonl" "$M" $in > "$D/out2" || die "-n 2 --jsonl"
[ -s "$D/out2" ] && die "--jsonl under MPI printed on stdout"
[ "$(wc -l < "$D/h2.jsonl")" -eq 1 ] || die "--jsonl under MPI: $(wc -l < "$D/h2.jsonl") lines"
$PY - "$D/h1.jsonl" "$D/h2.jsonl" <<'PYEOF' || die "--task forces under MPI differs"
import json, sys
x, y = (json.loads(open(p).read()) for p in sys.argv[1:3])
for d in (x, y):
    d.pop("atoms_per_s"); d.pop("timestamp")
assert x.keys() == y.keys()
for k in x:
    if isinstance(x[k], float):
        assert abs(x[k] - y[k]) <= 1e-12 * max(abs(x[k]), 1e-300), (k, x[k], y[k])
    else:
        assert x[k] == y[k], k
PYEOF

# statuses under MPI, each message once
expect_status 1 mpi 2 mlip-eval --fail-if 'si,forces,mae>0.001' "$M" "$D/val.mlb" "$D/train.mlb"
[ "$(grep -c 'above the threshold' "$TMPD/err")" -eq 1 ] || die "crossing reported $(grep -c 'above the threshold' "$TMPD/err") times"
[ "$(grep -c '"structures"' "$TMPD/out")" -eq 1 ] || die "results printed more than once"
expect_status 2 mpi 2 mlip-eval --fail-if 'nope>1' "$M" "$D/val.mlb" "$D/train.mlb"
expect_err "no key 'nope'"
head -c 3000 "$D/train.mlb" > "$D/trunc.mlb"
expect_status 3 mpi 2 mlip-eval "$M" "$D/val.mlb" "$D/trunc.mlb"
[ "$(grep -c 'trunc.mlb' "$TMPD/err")" -eq 1 ] || die "the data error is reported $(grep -c 'trunc.mlb' "$TMPD/err") times"
expect_status 4 mpi 2 mlip-eval "$D/missing.mlip" "$D/val.mlb"

# standard input is read by rank 0 and shared (a small input: mpiexec's
# forwarding of standard input is the limit)
mlip-collate --dump --dump-format extxyz "$D/val.mlb" | $PY -c '
import sys
lines = sys.stdin.read().splitlines(True)
n = int(lines[0]); sys.stdout.write("".join(lines[:n + 2]))' > "$D/one.xyz"
mlip-eval "$M" "$D/one.xyz" > "$D/one1.json" || die "one structure"
mpi 2 mlip-eval "$M" - < "$D/one.xyz" > "$D/one2.json" || die "stdin under MPI"
sed 's/"atoms_per_s".*//' "$D/one1.json" > "$D/one1.cut"
sed 's/"atoms_per_s".*//' "$D/one2.json" > "$D/one2.cut"
cmp -s "$D/one1.cut" "$D/one2.cut" || die "stdin under MPI differs"
grep -q '"structures":1,' "$D/one2.json" || die "stdin under MPI: $(cat "$D/one2.json")"
exit 0
