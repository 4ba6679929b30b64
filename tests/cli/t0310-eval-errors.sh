# Exit statuses of mlip-eval: a model that is missing (4), not a model or
# damaged (3); data that is missing (4) or unreadable (3); usage errors (2);
# plugin errors (5). A failed run leaves no predictions file behind.
. tests/cli/lib.sh
D="$TMPD"
si=share/demo/si-train.json
mlip-collate -q -c 5.0 -d si --split 0.9 --seed 1 -o "$D/train.mlb" -o "$D/val.mlb" "$si" || die "collate"
# a model without EMA, so that --weights ema has nothing to load
cat > "$D/cfg.yaml" <<CFG
seed: 1
data: {train: $D/train.mlb}
model: {cutoff: 5.0, elements: [Si], hidden: [8]}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: mse, normalizer: rmsd, element_references: fit}
  - {name: forces, property: forces, datasets: [si], loss: mse}
optim: {lr: 0.005}
schedule: {epochs: 1}
CFG
mlip-train -q -c "$D/cfg.yaml" -o "$D/run" > /dev/null || die "training failed"
M="$D/run/inference_ckpt.mlip"
expect_status 0 mlip-eval "$M" "$D/val.mlb"
cp "$TMPD/out" "$D/good.json"

# the model: missing, a text file, a flipped byte, truncated, a directory, a training state
expect_status 4 mlip-eval "$D/missing.mlip" "$D/val.mlb"
expect_err "missing.mlip"
expect_status 3 mlip-eval "$D/cfg.yaml" "$D/val.mlb"
expect_err "not an mlip checkpoint"
size=$(wc -c < "$M")
for off in 100 $((size / 2)) $((size - 1)); do
	cp "$M" "$D/flip.mlip"
	$PY -c 'import sys; p, o = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, "rb").read()); b[o] ^= 0x10; open(p, "wb").write(b)' "$D/flip.mlip" $off
	expect_status 3 mlip-eval "$D/flip.mlip" "$D/val.mlb"
	expect_err "flip.mlip"
done
head -c $((size - 100)) "$M" > "$D/short.mlip"
expect_status 3 mlip-eval "$D/short.mlip" "$D/val.mlb"
expect_err "truncated"
state="$D/run/checkpoints/final/state.0.mlip"
[ -f "$state" ] || die "no training state file $state"
expect_status 3 mlip-eval "$state" "$D/val.mlb"
expect_err "not an inference checkpoint"
[ -s "$TMPD/out" ] && die "a failed run printed results"

# the data: missing, not structures, a truncated or corrupted stream, a stream
# collated below the model's cutoff, an element the model lacks
expect_status 4 mlip-eval "$M" "$D/missing.mlb"
expect_err "missing.mlb"
expect_status 3 mlip-eval "$M" "$D/cfg.yaml"
expect_err "cfg.yaml:1"
printf 'MLIPBAT\n\001\000' > "$D/hdr.mlb"
expect_status 3 mlip-eval "$M" "$D/hdr.mlb"
head -c 3000 "$D/val.mlb" > "$D/trunc.mlb"
expect_status 3 mlip-eval "$M" "$D/trunc.mlb"
expect_err "trunc.mlb"
cp "$D/val.mlb" "$D/bad.mlb"
$PY -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[500] ^= 1; open(p, "wb").write(b)' "$D/bad.mlb"
expect_status 3 mlip-eval "$M" "$D/bad.mlb"
expect_err "bad.mlb: record 1"
mlip-collate -q -c 4.0 -d si share/demo/si-test.json > "$D/c4.mlb"
expect_status 3 mlip-eval "$M" "$D/c4.mlb"
expect_err "below the model cutoff"
printf '1\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 energy=-1.0\nLi 0 0 0\n' > "$D/li.xyz"
expect_status 3 mlip-eval "$M" "$D/li.xyz"
expect_err "element 'Li' is not in the model"
# a good input before a bad one: still an error, and no results
expect_status 3 mlip-eval "$M" "$D/val.mlb" "$D/trunc.mlb"
[ -s "$TMPD/out" ] && die "results printed despite bad data"
# no partial predictions file after a failure
expect_status 3 mlip-eval -p "$D/pred.xyz" "$M" "$D/val.mlb" "$D/trunc.mlb"
[ -e "$D/pred.xyz" ] && die "predictions left behind by a failed run"
[ -e "$D/pred.xyz.tmp" ] && die "temporary predictions file left behind"

# usage errors
expect_status 2 mlip-eval
expect_err "missing MODEL"
expect_status 2 mlip-eval --no-such-option "$M"
expect_err "try 'mlip-eval --help'"
expect_status 2 mlip-eval --weights best "$M" "$D/val.mlb"
expect_status 2 mlip-eval --weights ema "$M" "$D/val.mlb"
expect_err "no EMA weights"
expect_status 0 mlip-eval --weights raw "$M" "$D/val.mlb"
# without EMA the raw weights are the primary ones
$PY -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):
    d.pop("atoms_per_s"); d.pop("timestamp")
assert a == b, (a, b)' "$TMPD/out" "$D/good.json" || die "raw weights differ from the primary ones"
expect_status 2 mlip-eval --task nope "$M" "$D/val.mlb"
expect_err "unknown task 'nope' (the tasks are: energy, forces)"
expect_status 2 mlip-eval --head nope "$M" "$D/val.mlb"
expect_err "no such head"
for bad in 'si,forces,mae' 'si,forces,mae>' '>1' 'loss>one' 'loss=1' 'loss>1e999'; do
	expect_status 2 mlip-eval --fail-if "$bad" "$M" "$D/val.mlb"
	expect_err "--fail-if '$bad'"
	expect_err "try 'mlip-eval --help'"
done
expect_status 2 mlip-eval -p - "$M" "$D/val.mlb"
expect_err "--jsonl"
expect_status 2 mlip-eval --tasks "$D/cfg.yaml" --task stress "$M" "$D/val.mlb"

# plugins: a loss plugin with the wrong ABI found first under the name the model uses
mkdir -p "$D/plug"
cp tests/plugins/mlip-loss-badabi.so "$D/plug/mlip-loss-mse.so" || die "tests/plugins not built (make test-plugins)"
expect_status 5 mlip-eval --plugin-path "$D/plug" "$M" "$D/val.mlb"
expect_err "ABI"
exit 0
