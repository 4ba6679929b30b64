# Bad input: every broken file gives exit 3 and a message naming the file and
# the line (or structure, or record); nothing is written on failure.
. tests/cli/lib.sh
dir=tests/data/broken/extxyz
[ -f "$dir/EXPECTED" ] || die "no $dir/EXPECTED"
n=0
while IFS="$(printf '\t')" read -r file status msg; do
	case "$file" in ''|'#'*) continue ;; esac
	expect_status "$status" mlip-collate -c 4 -o "$TMPD/out.mlb" "$dir/$file"
	expect_err "mlip-collate: error: $dir/$file:"
	expect_err "$msg"
	[ -e "$TMPD/out.mlb" ] && die "$file: output written despite the error"
	[ -e "$TMPD/out.mlb.tmp" ] && die "$file: temporary file left"
	n=$((n + 1))
done < "$dir/EXPECTED"
[ "$n" -ge 8 ] || die "only $n broken files"

# duplicate atoms, and an atom on its own periodic image
printf '2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3\nSi 0 0 0\nSi 0 0 0\n' > "$TMPD/dup.xyz"
expect_status 3 mlip-collate -c 3 "$TMPD/dup.xyz"
expect_err "$TMPD/dup.xyz:0: atoms 1 and 2 are at the same position"
printf '2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3\nSi 0 0 0\nSi 4 0 0\n' > "$TMPD/img.xyz"
expect_status 3 mlip-collate -c 3 "$TMPD/img.xyz"
expect_err "same position"

# damaged batch streams
mlip-collate -q -c 4 -b 5 "$MLIP_TOP/share/demo/si-test.json" > "$TMPD/good.mlb"
size=$(wc -c < "$TMPD/good.mlb")
head -c $((size / 2)) "$TMPD/good.mlb" > "$TMPD/trunc.mlb"
expect_status 3 mlip-collate --dump "$TMPD/trunc.mlb"
expect_err "$TMPD/trunc.mlb: record"
expect_err "truncated"
# flip one byte in the middle of the payload of a record
$PY - "$TMPD/good.mlb" "$TMPD/flip.mlb" <<'PYEOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 3] ^= 0x40
open(sys.argv[2], "wb").write(b)
PYEOF
expect_status 3 mlip-collate --dump "$TMPD/flip.mlb"
expect_err "$TMPD/flip.mlb: record"
expect_err "checksum mismatch"
printf 'not a stream at all, just text\n' > "$TMPD/text.mlb"
expect_status 3 mlip-collate --dump "$TMPD/text.mlb"
expect_err "not an mlip batch stream"
# a structure file given to --dump says what to do
expect_status 3 mlip-collate --dump "$MLIP_TOP/share/demo/si-test.json"
expect_err "mlip-collate"

# a full disk is an I/O error (4), not a crash
if [ -w /dev/full ]; then
	expect_status 4 sh -c "mlip-collate -q -c 4 '$MLIP_TOP/share/demo/si-test.json' > /dev/full"
	expect_status 4 sh -c "mlip-collate --dump '$TMPD/good.mlb' > /dev/full"
fi
