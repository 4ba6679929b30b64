# The ASE calculator (share/python/mlip over libmlip.so.1): on held-out
# structures its energies, forces and stresses equal mlip-eval's predictions
# to 1e-10 relative, for the first head and for a second head with an energy
# shift, and per-atom energies sum to the energy; forces and stress match
# ASE's finite differences; small cells, slabs and a finite cluster (forces,
# no stress) come out right; BFGS relaxes and Velocity-Verlet conserves
# energy; library errors arrive with the library's message; the threads
# option changes nothing (tests/ase/calculator_check.py, one line per check
# with its numbers). Then the library lookup: MLIP_LIBRARY, the source tree,
# and an installed package that finds its library after the install tree was
# moved; and uninstall-python.
. tests/cli/lib.sh
if ! have_ase; then
	echo "skip: python3-ase is not installed"
	exit 0
fi
LIBSO="$MLIP_TOP/lib/libmlip.so.1"
[ -e "$LIBSO" ] || die "$LIBSO is missing: build it with 'make shlib'"
# the tests import the package from the source tree: keep it free of bytecode
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
unset MLIP_LIBRARY PYTHONPATH
PKG="$MLIP_TOP/share/python"

si_model "$TMPD"
M="$TMPD/run/inference_ckpt.mlip"
mlip-eval -q -p "$TMPD/pred.xyz" "$M" "$TMPD/test.mlb" > /dev/null || die "mlip-eval failed"
# two heads, the second with a fixed normalizer mean: an energy shift of 3 eV
cat > "$TMPD/heads.yaml" <<CFG
seed: 2
data: {train: [$TMPD/train.mlb]}
model: {cutoff: 5.0, elements: [Si], hidden: [8], heads: [energy, shifted]}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse, normalizer: rmsd,
     element_references: fit}
  - {name: forces, property: forces, datasets: [si], loss: mse}
  - {name: e2, head: shifted, property: energy, datasets: [si], loss: per_atom_mse,
     normalizer: {name: rmsd, mean: 3.0}, element_references: fit}
  - {name: f2, head: shifted, property: forces, datasets: [si], loss: mse}
optim: {lr: 0.01}
schedule: {epochs: 2}
train: {print_every: 0}
CFG
mlip-train -q -c "$TMPD/heads.yaml" -o "$TMPD/heads" > /dev/null || die "training the two-head model failed"
H="$TMPD/heads/inference_ckpt.mlip"
mlip-eval -q --head shifted -p "$TMPD/pred_shifted.xyz" "$H" "$TMPD/test.mlb" > /dev/null ||
	die "mlip-eval --head shifted failed"

PYTHONPATH="$PKG" $PY tests/ase/calculator_check.py "$M" "$TMPD/pred.xyz" "$H" "$TMPD/pred_shifted.xyz" \
	> "$TMPD/check.log" 2>&1
st=$?
cat "$TMPD/check.log"
[ "$st" -eq 0 ] || die "calculator checks failed (status $st)"
# every check ran and passed
expect_eq "$(grep -c '^ok ' "$TMPD/check.log")" 10 "checks passed"
# and a check can fail: another model's values are not these predictions
PYTHONPATH="$PKG" $PY tests/ase/calculator_check.py "$H" "$TMPD/pred.xyz" "$H" "$TMPD/pred_shifted.xyz" \
	eval_agreement > "$TMPD/out" 2>&1 && die "another model's predictions passed as this one's"
expect_out "FAIL eval_agreement"

# --- library lookup
where() { # prints the library mlip loaded and that a model opens through it
	"$PY" -c 'import sys, mlip
m = mlip.Model(sys.argv[1])
assert m.elements == (14,) and m.cutoff == 5.0, (m.elements, m.cutoff)
print(mlip.library_path())' "$M"
}
# the source tree, whatever the working directory
got=$(cd "$TMPD" && PYTHONPATH="$PKG" where) || die "source-tree lookup failed"
expect_eq "$got" "$LIBSO" "library found from the source tree"
# MLIP_LIBRARY wins, as a file or a directory, and a wrong one is an error, not a fall-back
cp "$LIBSO" "$TMPD/libcopy.so"
got=$(PYTHONPATH="$PKG" MLIP_LIBRARY="$TMPD/libcopy.so" where) || die "MLIP_LIBRARY=file failed"
expect_eq "$got" "$TMPD/libcopy.so" "library named by MLIP_LIBRARY"
got=$(PYTHONPATH="$PKG" MLIP_LIBRARY="$MLIP_TOP/lib" where) || die "MLIP_LIBRARY=dir failed"
expect_eq "$got" "$LIBSO" "library in the directory MLIP_LIBRARY names"
PYTHONPATH="$PKG" MLIP_LIBRARY="$TMPD/nowhere.so" where > "$TMPD/out" 2> "$TMPD/err" &&
	die "a missing MLIP_LIBRARY was ignored"
expect_err "MLIP_LIBRARY=$TMPD/nowhere.so"

# the installed layout (make install runs install-python): the package beside
# lib/libmlip.so.1
make -s install-python PREFIX=/opt/mlip DESTDIR="$TMPD/dest" >/dev/null || die "make install-python failed"
root="$TMPD/dest/opt/mlip"
pydir="$root/lib/python3/dist-packages"
for f in __init__.py _lib.py _paths.py calculator.py model.py; do
	[ -e "$pydir/mlip/$f" ] || die "not installed: $pydir/mlip/$f"
done
[ -e "$pydir/mlip/__pycache__" ] && die "bytecode of the source tree was installed"
grep -qF 'LIBDIR = "/opt/mlip/lib"' "$pydir/mlip/_paths.py" || die "_paths.py does not record PREFIX/lib"
grep -q "$TMPD" "$pydir/mlip/_paths.py" && die "_paths.py records DESTDIR"
cp "$LIBSO" "$root/lib/libmlip.so.1"
mv "$root" "$TMPD/moved"
got=$(cd "$TMPD" && PYTHONPATH="$TMPD/moved/lib/python3/dist-packages" where) ||
	die "the installed, moved package could not load its library"
expect_eq "$got" "$TMPD/moved/lib/libmlip.so.1" "library found beside the installed package"
# no library anywhere: the error says where it looked and what to do (unless
# a system-wide libmlip, which the lookup ends with, is installed)
rm "$TMPD/moved/lib/libmlip.so.1"
if "$PY" -c 'import ctypes.util, sys; sys.exit(ctypes.util.find_library("mlip") is not None)'; then
	(cd "$TMPD" && PYTHONPATH="$TMPD/moved/lib/python3/dist-packages" where) > "$TMPD/out" 2> "$TMPD/err" &&
		die "a library was found where none is installed: $(cat "$TMPD/out")"
	expect_err "cannot find libmlip.so.1"
	expect_err "$TMPD/moved/lib/libmlip.so.1"
	expect_err "make shlib"
fi
# uninstall-python removes it all, the bytecode python3 may have left too
mv "$TMPD/moved" "$root"
mkdir -p "$pydir/mlip/__pycache__" && : > "$pydir/mlip/__pycache__/model.cpython-311.pyc"
make -s uninstall-python PREFIX=/opt/mlip DESTDIR="$TMPD/dest" >/dev/null || die "make uninstall-python failed"
left=$(find "$TMPD/dest" -path '*python*')
[ -z "$left" ] || die "make uninstall-python left: $left"
exit 0
