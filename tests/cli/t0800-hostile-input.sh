# Hostile input: every single-bit flip (a sample of >= 2000 per file, every
# bit of the headers) and every truncation on a grid of a .mlb stream, an
# inference model and a training checkpoint directory is refused (exit 3) or
# provably harmless; sizes read from a file are checked before anything is
# allocated; readers stay linear; a 10^7-atom structure is refused at its
# count line. Figures in bench/RESULTS.md ("Hostile input").
. tests/cli/lib.sh
D="$TMPD"
FLIP=build/fuzz/flipcheck
[ -x "$FLIP" ] || make -s "$FLIP" > /dev/null || die "cannot build $FLIP (make $FLIP)"

# the artifacts: a stream of 3 batches, a small model and its checkpoint directory
$PY - "$MLIP_TOP/share/demo/si-test.json" "$D/si.json" <<'PYEOF'
import json, sys
data = json.load(open(sys.argv[1]))
json.dump([s for s in data if len(s["structure"]["sites"]) <= 36][:3], open(sys.argv[2], "w"))
PYEOF
mlip-collate -q -c 3.0 -d si -b 1 -o "$D/si.mlb" "$D/si.json" || die "collate"
cat > "$D/cfg.yaml" <<CFG
seed: 1
data: {train: $D/si.mlb}
model: {cutoff: 3.0, elements: [Si], hidden: [4]}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: mse, normalizer: rmsd}
  - {name: forces, property: forces, datasets: [si], loss: mse}
optim: {lr: 0.005}
schedule: {epochs: 1}
train: {ema_decay: 0.9}
CFG
mlip-train -q -c "$D/cfg.yaml" -o "$D/run" > /dev/null || die "training failed"

# flips and truncations, judged by the readers the programs use
"$FLIP" mlb "$D/si.mlb" > "$D/flip.txt" || { cat "$D/flip.txt"; die "silent damage in si.mlb"; }
"$FLIP" model "$D/run/inference_ckpt.mlip" >> "$D/flip.txt" ||
	{ cat "$D/flip.txt"; die "silent damage in the model"; }
"$FLIP" run "$D/run/checkpoints/final" >> "$D/flip.txt" ||
	{ cat "$D/flip.txt"; die "silent damage in a checkpoint container"; }
cat "$D/flip.txt"
# every protected file: at least 2000 flips, none silent; the stream's only
# harmless flips are the 256 bits of its reserved header bytes (ignored on reading)
grep -v unprotected "$D/flip.txt" | awk '
	/^flip/ { files++; if ($5 + 0 < 2000) { print "too few flips: " $0; bad = 1 } }
	{ if ($(NF - 1) + 0 != 0) { print "silent: " $0; bad = 1 } }
	END { if (files < 4) { print "only " files " files"; bad = 1 }; exit bad }' ||
	die "flip figures"
grep -q "^flip $D/si.mlb: .* 256 harmless, 0 silent" "$D/flip.txt" || die "si.mlb: harmless flips outside the reserved bytes"
grep -q "^flip $D/run/inference_ckpt.mlip: .* 0 harmless, 0 silent" "$D/flip.txt" || die "model: a flip went unnoticed"

# the same refusals are exit 3 at the command line
M="$D/run/inference_ckpt.mlip"
$PY - "$M" "$D/bad.mlip" <<'PYEOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[3000 % len(b)] ^= 0x04
open(sys.argv[2], "wb").write(b)
PYEOF
expect_status 3 mlip-eval "$D/bad.mlip" "$D/si.mlb"
expect_err "checksum mismatch"
# a 64-byte file whose header announces 8 blobs of 2^30 float64 (64 GiB): refused
# from the file size before any allocation, from a file and from a pipe
$PY - "$D/huge.mlip" <<'PYEOF'
import struct, sys
h = b"MLIPCKPT" + struct.pack("<IIQQQII", 1, 64, 0, 8, 1 << 30, 8, 0) + bytes(16)
open(sys.argv[1], "wb").write(h)
PYEOF
expect_status 3 mlip-eval "$D/huge.mlip" "$D/si.mlb"
expect_err "truncated: 0 bytes after the header, expected 68719476736"
expect_status 3 sh -c "cat '$D/huge.mlip' | (ulimit -v 1000000; mlip-eval - '$D/si.mlb')"
expect_err "truncated"
# header fields over the hard limits name the offset and the field
$PY - "$D/nblobs.mlip" <<'PYEOF'
import struct, sys
h = b"MLIPCKPT" + struct.pack("<IIQQQII", 1, 64, 0, 1 << 40, 1, 8, 0) + bytes(16)
open(sys.argv[1], "wb").write(h)
PYEOF
expect_status 3 mlip-eval "$D/nblobs.mlip" "$D/si.mlb"
expect_err "damaged header: offset 24: n_blobs is over the limit"

# extxyz: an 11-byte file that declares a billion atoms, and 10^7 atoms, are
# refused at the count line (no allocation for them), by mlip-collate and
# mlip-eval, from files and from pipes, within 1 GB of address space
printf '999999999\n\n' > "$D/billion.xyz"
expect_status 3 sh -c "ulimit -v 1000000; mlip-collate -c 3 -o '$D/o.mlb' '$D/billion.xyz'"
expect_err "billion.xyz:1: atom count 999999999 is too large: over the limit of 1000000 atoms per structure"
{ echo 10000000; echo 'Lattice="1e4 0 0 0 1e4 0 0 0 1e4" Properties=species:S:1:pos:R:3'
  i=0; while [ $i -lt 1000 ]; do echo "Si $i 0 0"; i=$((i + 1)); done; } > "$D/big.xyz"
expect_status 3 sh -c "ulimit -v 1000000; mlip-collate -c 3 -o '$D/o.mlb' '$D/big.xyz'"
expect_err "over the limit of 1000000 atoms"
expect_status 3 sh -c "ulimit -v 1000000; cat '$D/big.xyz' | mlip-collate -c 3 -o '$D/o.mlb' -"
expect_err "over the limit of 1000000 atoms"
expect_status 3 sh -c "ulimit -v 1000000; mlip-eval '$M' '$D/big.xyz'"
expect_err "over the limit of 1000000 atoms"
# below the limit, memory follows the atom lines that arrive: a frame that
# declares 999999 atoms but ends after 1000 is refused as truncated
sed '1s/.*/999999/' "$D/big.xyz" > "$D/short.xyz"
expect_status 3 sh -c "ulimit -v 1000000; mlip-collate -c 3 -o '$D/o.mlb' '$D/short.xyz'"
expect_err "short.xyz:1: truncated frame: 999999 atoms declared but the file ends after 1000"

# linear time: a config mapping of 100 000 keys (quadratic duplicate-key
# search before: minutes) is a configuration error within seconds
awk 'BEGIN { print "data: {train: x.mlb}"; for (i = 0; i < 100000; i++) print "k" i ": 1" }' > "$D/keys.yaml"
start=$(date +%s)
expect_status 2 timeout 30 mlip-train -c "$D/keys.yaml" -o "$D/run2"
expect_err "k0"
[ $(($(date +%s) - start)) -le 10 ] || die "100 000 config keys took more than 10 s"
# a duplicate among them is still found, naming both places
echo "k5: 2" >> "$D/keys.yaml"
expect_status 2 mlip-train -c "$D/keys.yaml" -o "$D/run2"
expect_err "duplicate key 'k5' (first at $D/keys.yaml:7:1)"

# mlearn JSON is parsed whole (about 17 bytes of memory per byte of file):
# a file over 128 MiB is refused as it arrives, here from a pipe
expect_status 3 sh -c "{ printf '['; head -c 140000000 /dev/zero | tr '\\0' ' '; printf ']'; } |
	mlip-collate -c 3 -f mlearn -o '$D/o.mlb' -"
expect_err "<stdin>: offset 134217728: the file is larger than the limit of 134217728 bytes for mlearn JSON"
