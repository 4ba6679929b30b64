# mlip-kim-install from an installed prefix (make install): it finds mlip.h
# and libmlip.so in PREFIX/include and PREFIX/lib and the driver sources in
# PREFIX/share/mlip/kim, builds the driver with its run path in PREFIX/lib,
# and the model gives mlip-eval's numbers in LAMMPS; a copy of the program
# elsewhere finds the same libmlip through pkg-config (and the driver is then
# up to date), and says what is missing when nothing is found.
. tests/cli/lib.sh
. tests/kim/kim.sh
kim_setup
D="$TMPD"
make -s install PREFIX="$D/prefix" > /dev/null || die "make install failed"
root="$D/prefix"
for f in bin/mlip-kim-install include/mlip.h lib/libmlip.so lib/pkgconfig/mlip.pc \
	share/mlip/kim/mlip_driver/mlip_kim_driver.c share/mlip/kim/mlip_driver/CMakeLists.txt \
	share/mlip/kim/model-check.c share/man/man1/mlip-kim-install.1; do
	[ -e "$root/$f" ] || die "not installed: $f"
done
si_model "$D"
M="$D/run/inference_ckpt.mlip"
( PATH="$root/bin:/usr/bin:/bin"; unset PKG_CONFIG_PATH
  expect_status 0 mlip-kim-install -c environment "$M" mlip_p ) || exit 1
expect_err "libmlip in $root/lib"
drv="$KIM_API_MODEL_DRIVERS_DIR/mlip_model_driver/libkim-api-model-driver.so"
ldd "$drv" | grep -q "libmlip.so.1 => $root/lib/libmlip.so.1" ||
	die "the driver does not use the installed libmlip: $(ldd "$drv")"
mlip-collate --dump --dump-format extxyz "$D/test.mlb" > "$D/test.xyz" || die "dump"
$PY "$KIMPY" prepare "$D/test.xyz" "$D/s" 9 || die "prepare"
write_run0_input "$D/run0.in"
lmp_run a.log -var model mlip_p -var pre s -var s 9 -in run0.in
mlip-eval -q -p "$D/p.xyz" "$M" "$D/s_9.xyz" > /dev/null || die "mlip-eval"
$PY "$KIMPY" compare "$D/l_s_9.log" "$D/f_s_9.dump" "$D/p.xyz" || die "LAMMPS and mlip-eval differ"

# a copy elsewhere: libmlip through pkg-config, the same driver build
mkdir -p "$D/elsewhere/bin"
cp "$root/bin/mlip-kim-install" "$D/elsewhere/bin/"
( PATH="$D/elsewhere/bin:/usr/bin:/bin" PKG_CONFIG_PATH="$root/lib/pkgconfig"
  export PKG_CONFIG_PATH
  expect_status 0 mlip-kim-install -c environment "$M" mlip_q ) || exit 1
expect_err "driver mlip_model_driver is up to date"
[ -d "$KIM_API_PORTABLE_MODELS_DIR/mlip_q" ] || die "mlip_q is not installed"
( PATH="$D/elsewhere/bin:/usr/bin:/bin"; unset PKG_CONFIG_PATH
  expect_status 4 mlip-kim-install -c environment "$M" mlip_r ) || exit 1
expect_err "libmlip not found"
exit 0
