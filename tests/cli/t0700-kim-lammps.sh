# A trained model in LAMMPS through KIM (mlip-kim-install, the driver
# mlip_model_driver over libmlip): `run 0` on four held-out Si structures
# (a strongly skewed triclinic cell thinner than cutoff + skin, a triclinic
# slab, a cubic MD snapshot and a sheared cell, each rotated into LAMMPS's
# cell and evaluated the same way by mlip-eval) gives
# mlip-eval's energy, every force component and all six pressure
# components to 1e-10 relative; the per-atom energies and virials of KIM
# (pe/atom, stress/atom) sum to them; a minimal KIM simulator
# (tests/kim/kim_check.c) gets libmlip's energy, forces and virial, in KIM's
# sign and order; two MPI ranks (Open MPI, the one LAMMPS links) give the
# serial energy, forces and pressure on 512- and 504-atom cells; and
# the installed driver links libmlip but no MPI library.
. tests/cli/lib.sh
. tests/kim/kim.sh
kim_setup
D="$TMPD"
si_model "$D"
M="$D/run/inference_ckpt.mlip"
mlip-kim-install -q -c environment "$M" mlip_si 2> "$D/install.err" ||
	{ cat "$D/install.err" >&2; die "mlip-kim-install failed"; }
[ -s "$D/install.err" ] && die "mlip-kim-install -q wrote: $(cat "$D/install.err")"
drv="$KIM_API_MODEL_DRIVERS_DIR/mlip_model_driver/libkim-api-model-driver.so"
[ -f "$drv" ] || die "the driver is not in the environment collection"
[ -f "$KIM_API_PORTABLE_MODELS_DIR/mlip_si/libkim-api-portable-model.so" ] ||
	die "the model is not in the environment collection"
ldd "$drv" > "$D/ldd" || die "ldd $drv"
grep -q "libmlip.so.1 => $MLIP_TOP/lib/libmlip.so.1" "$D/ldd" ||
	die "the driver does not find the tree's libmlip.so.1: $(cat "$D/ldd")"
grep -i -e mpi -e ucx -e hwloc -e 'not found' "$D/ldd" && die "the driver links an MPI library or misses one"

# the KIM interface itself, from a minimal KIM simulator: energy, forces, the
# KIM virial (which LAMMPS never reads) and the per-particle sums against libmlip
cc -std=c11 -o "$D/kim_check" tests/kim/kim_check.c -I"$MLIP_TOP/lib" \
	$(pkg-config --cflags --libs libkim-api) -L"$MLIP_TOP/lib" -lmlip -Wl,-rpath,"$MLIP_TOP/lib" -lm ||
	die "cannot build tests/kim/kim_check.c"
( cd "$D" && ./kim_check mlip_si "$M" ) || die "the KIM interface disagrees with libmlip"

# held-out structures: 0 and 7 skewed triclinic (0 is thinner than cutoff +
# skin in one direction), 7 a slab, 12 cubic, 23 sheared
mlip-collate --dump --dump-format extxyz "$D/test.mlb" > "$D/test.xyz" || die "dump"
$PY "$KIMPY" prepare "$D/test.xyz" "$D/s" 0 7 12 23 || die "prepare"
write_run0_input "$D/run0.in"
lmp_run main.log -var model mlip_si -var pre s -var s 0 7 12 23 -in run0.in
for i in 0 7 12 23; do
	mlip-eval -q -p "$D/p_$i.xyz" "$M" "$D/s_$i.xyz" > /dev/null || die "mlip-eval s_$i.xyz"
	echo "structure $i:"
	$PY "$KIMPY" compare "$D/l_s_$i.log" "$D/f_s_$i.dump" "$D/p_$i.xyz" ||
		die "structure $i: LAMMPS and mlip-eval differ"
done

# one rank and two: 2x2x2 replicas of the sheared cell (512 atoms) and of the
# skewed cell 0 (504 atoms), split between the ranks
$PY "$KIMPY" prepare "$D/test.xyz" "$D/r" 23 0 --replicate 2 2 2 || die "prepare"
lmp_run main1.log -var model mlip_si -var pre r -var s 23 0 -in run0.in
for i in 23 0; do mv "$D/l_r_$i.log" "$D/l1_r_$i.log"; mv "$D/f_r_$i.dump" "$D/f1_r_$i.dump"; done
( cd "$D" && $LMP_MPIEXEC -np 2 lmp -screen none -log main2.log -var model mlip_si -var pre r \
	-var s 23 0 -in run0.in ) > "$D/mpi.out" 2>&1 || { cat "$D/mpi.out" >&2; die "2-rank LAMMPS failed"; }
for i in 23 0; do
	grep -q "^  [12] by [12] by [12] MPI processor grid" "$D/l_r_$i.log" &&
		! grep -q "1 by 1 by 1 MPI" "$D/l_r_$i.log" ||
		die "LAMMPS did not run on 2 ranks: $(grep -i 'processor grid' "$D/l_r_$i.log")"
	[ "$(grep -c . "$D/f_r_$i.dump")" -gt 500 ] || die "the replica is smaller than meant"
	echo "replica of $i, 2 ranks against 1:"
	$PY "$KIMPY" compare-runs "$D/l1_r_$i.log" "$D/f1_r_$i.dump" "$D/l_r_$i.log" "$D/f_r_$i.dump" ||
		die "replica of $i: 2 ranks differ from 1"
	mlip-eval -q -p "$D/rp_$i.xyz" "$M" "$D/r_$i.xyz" > /dev/null || die "mlip-eval r_$i.xyz"
	echo "replica of $i, 2 ranks against mlip-eval:"
	$PY "$KIMPY" compare "$D/l_r_$i.log" "$D/f_r_$i.dump" "$D/rp_$i.xyz" ||
		die "replica of $i: 2-rank LAMMPS and mlip-eval differ"
done
exit 0
