# ASE is the real client: files ASE writes go through mlip-collate and come
# back out as extxyz that ASE reads to the same numbers, bit for bit
# (molecules, triclinic cells, mixed pbc, fixed atoms, every label).
. tests/cli/lib.sh
have_ase || die "python3-ase is missing (make deps installs it)"
$PY tests/ase/ase_check.py write "$TMPD/ase" || die "ASE could not write the samples"
names="molecule.xyz triclinic.xyz labels.xyz fixed.xyz free_energy.xyz dataset.xyz"
files=""
for n in $names; do files="$files $TMPD/ase/$n"; done
# cutoff 3 Å: the neighbour list is built (and checked) for every sample
expect_status 0 mlip-collate -q -c 3 -b 3 -o "$TMPD/all.mlb" $files
mlip-collate --dump --dump-format extxyz "$TMPD/all.mlb" > "$TMPD/back.xyz" || die "dump failed"
$PY tests/ase/ase_check.py check-xyz "$TMPD/back.xyz" "$TMPD/ase/reference.json" $names \
	|| die "ASE reads different numbers from what mlip wrote"
# ASE -> ours through a pipe on stdin
cat "$TMPD/ase/triclinic.xyz" | mlip-collate -q -c 3 - | mlip-collate --dump --dump-format extxyz > "$TMPD/tri.xyz"
$PY tests/ase/ase_check.py check-xyz "$TMPD/tri.xyz" "$TMPD/ase/reference.json" triclinic.xyz \
	|| die "stdin path differs"
# a damaged number is caught by the checker (the comparison can fail)
sed '3s/\([0-9]\)\([0-9]\) /\2\1 /' "$TMPD/tri.xyz" > "$TMPD/bad.xyz"
if $PY tests/ase/ase_check.py check-xyz "$TMPD/bad.xyz" "$TMPD/ase/reference.json" triclinic.xyz >/dev/null 2>&1; then
	cmp -s "$TMPD/bad.xyz" "$TMPD/tri.xyz" || die "the checker missed a changed number"
fi
