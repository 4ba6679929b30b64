# mlip-kim-install: usage and data errors with their exit statuses and
# messages; a second install reuses the driver and replaces the model; --head
# selects a head of a multi-head model (LAMMPS then gives `mlip-eval --head`'s
# energy and forces); the current directory gets no kim.log; a model whose energy is not a sum of atomic energies is
# refused by the installer, and by the driver itself in an item built by
# hand; --remove removes only what mlip-kim-install installed.
. tests/cli/lib.sh
. tests/kim/kim.sh
kim_setup
D="$TMPD"
P=mlip-kim-install

# usage errors (2)
expect_status 2 $P
expect_err "no MODEL given"
expect_err "try 'mlip-kim-install --help'"
expect_status 2 $P --collection nowhere x.mlip m
expect_err "--collection must be user, environment or system"
expect_status 2 $P -c environment "$D/x.mlip"
expect_err "no NAME given"
expect_status 2 $P -c environment "$D/x.mlip" 1abc
expect_err "'1abc' is not a valid KIM name"
expect_status 2 $P -c environment "$D/x.mlip" mlip_model_driver
expect_err "is the name of the driver"
expect_status 2 $P -c environment --name a "$D/x.mlip" b
expect_err "two names"
expect_status 2 $P --remove a "$D/x.mlip"
expect_err "--remove takes no MODEL"
( unset KIM_API_PORTABLE_MODELS_DIR; expect_status 2 $P -c environment "$D/x.mlip" m &&
	expect_err "needs KIM_API_MODEL_DRIVERS_DIR and KIM_API_PORTABLE_MODELS_DIR" ) || exit 1

# bad models (3) and missing ones (4)
expect_status 4 $P -c environment "$D/missing.mlip" m
expect_err "cannot open '$D/missing.mlip'"
echo "not a model" > "$D/text.mlip"
expect_status 3 $P -c environment "$D/text.mlip" m
expect_err "not an mlip checkpoint"
mkdir "$D/rundir"
expect_status 3 $P -c environment "$D/rundir" m
expect_err "is not a file"
# no KIM tools (4): a PATH with the shell's tools but not the KIM API's
mkdir "$D/nokim"
for t in sh dirname readlink mktemp rm cat sed grep; do ln -s "$(command -v $t)" "$D/nokim/$t"; done
# (in a subshell: dash keeps an assignment made before a function call)
( PATH="$D/nokim"; expect_status 4 "$MLIP_TOP/bin/$P" -c environment "$D/x.mlip" m ) || exit 1
expect_err "kim-api-collections-management not found"
expect_err "apt-get install libkim-api-dev"
[ -z "$(find "$KIM_API_MODEL_DRIVERS_DIR" "$KIM_API_PORTABLE_MODELS_DIR" -mindepth 1)" ] ||
	die "an error installed something"

si_model "$D"
M="$D/run/inference_ckpt.mlip"
# a two-head model, and one whose energy normalizer has a mean (a constant per structure)
cat > "$D/heads.yaml" <<CFG
seed: 2
data: {train: [$D/train.mlb]}
model: {cutoff: 5.0, elements: [Si], hidden: [8, 8], heads: [pbe, alt]}
tasks:
  - {name: e_pbe, property: energy, head: pbe, datasets: [si], loss: per_atom_mse, normalizer: rmsd, element_references: fit}
  - {name: f_pbe, property: forces, head: pbe, datasets: [si], loss: mse}
  - {name: e_alt, property: energy, head: alt, datasets: [si], loss: per_atom_mse, normalizer: rmsd, element_references: fit}
  - {name: f_alt, property: forces, head: alt, datasets: [si], loss: {name: mse, coefficient: 3}}
optim: {lr: 0.005}
schedule: {epochs: 2}
CFG
mlip-train -q -c "$D/heads.yaml" -o "$D/heads" > /dev/null || die "training the two-head model"
H="$D/heads/inference_ckpt.mlip"
cat > "$D/shift.yaml" <<CFG
seed: 2
data: {train: [$D/train.mlb]}
model: {cutoff: 5.0, elements: [Si], hidden: [8]}
tasks:
  - {name: energy, property: energy, datasets: [si], loss: per_atom_mse, normalizer: {name: rmsd, mean: -5.0}}
  - {name: forces, property: forces, datasets: [si], loss: mse}
optim: {lr: 0.005}
schedule: {epochs: 1}
CFG
mlip-train -q -c "$D/shift.yaml" -o "$D/shift" > /dev/null || die "training the shifted model"
S="$D/shift/inference_ckpt.mlip"

expect_status 3 $P -c environment "$S" m
expect_err "not a sum of atomic energies"
expect_status 2 $P -c environment --head nope "$H" m
expect_err "no head 'nope' (heads: pbe, alt)"

# install, then again: the driver is reused, the model replaced
expect_status 0 $P -c environment "$M" mlip_t
expect_err "building and installing the driver mlip_model_driver"
expect_err "kim init mlip_t metal"
[ -s "$TMPD/out" ] && die "$P wrote to stdout"
mlip-collate --dump --dump-format extxyz "$D/test.mlb" > "$D/test.xyz" || die "dump"
$PY "$KIMPY" prepare "$D/test.xyz" "$D/s" 23 || die "prepare"
write_run0_input "$D/run0.in"
lmp_run a.log -var model mlip_t -var pre s -var s 23 -in run0.in
mv "$D/l_s_23.log" "$D/first.log"
mlip-eval -q -p "$D/p.xyz" "$M" "$D/s_23.xyz" > /dev/null || die "mlip-eval"
$PY "$KIMPY" compare "$D/first.log" "$D/f_s_23.dump" "$D/p.xyz" || die "the first install"

# (from a directory of the user's, which gets no kim.log of the KIM tools)
mkdir "$D/cwd"
( cd "$D/cwd" && expect_status 0 $P -c environment --head alt "$H" --name mlip_t ) || exit 1
[ -e "$D/cwd/kim.log" ] && die "mlip-kim-install left a kim.log in the current directory"
expect_err "driver mlip_model_driver is up to date"
expect_err "head alt"
lmp_run b.log -var model mlip_t -var pre s -var s 23 -in run0.in
mlip-eval -q --head alt -p "$D/p_alt.xyz" "$H" "$D/s_23.xyz" > /dev/null || die "mlip-eval --head alt"
mlip-eval -q -p "$D/p_pbe.xyz" "$H" "$D/s_23.xyz" > /dev/null || die "mlip-eval"
echo "head alt:"
$PY "$KIMPY" compare "$D/l_s_23.log" "$D/f_s_23.dump" "$D/p_alt.xyz" || die "--head alt: LAMMPS is not head alt"
echo "head pbe (must differ):"
$PY "$KIMPY" compare "$D/l_s_23.log" "$D/f_s_23.dump" "$D/p_pbe.xyz" > "$D/pbe.cmp" && die "head alt and pbe agree: nothing was tested"

# the driver refuses a shifted model by itself, in an item built by hand
mkdir "$D/item"
cp "$S" "$D/item/model.mlip"
cat > "$D/item/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.10)
list(APPEND CMAKE_PREFIX_PATH $ENV{KIM_API_CMAKE_PREFIX_DIR})
find_package(KIM-API-ITEMS 2.2 REQUIRED CONFIG)
kim_api_items_setup_before_project(ITEM_TYPE "portableModel")
project(mlip_shifted)
kim_api_items_setup_after_project(ITEM_TYPE "portableModel")
add_kim_api_model_library(NAME "mlip_shifted" DRIVER_NAME "mlip_model_driver" PARAMETER_FILES "model.mlip")
CM
( cd "$D" && kim-api-collections-management install environment "$D/item" ) > "$D/kcm.log" 2>&1 ||
	{ cat "$D/kcm.log" >&2; die "building the item by hand"; }
( cd "$D" && lmp -screen none -log shifted.log -var model mlip_shifted -var pre s -var s 23 \
	-in run0.in ) > "$D/shifted.out" 2>&1 && die "LAMMPS ran a model the driver must refuse"
grep -q "mlip_model_driver: error: .*not a sum of atomic energies" "$D/shifted.out" ||
	die "the driver's refusal is not on stderr: $(cat "$D/shifted.out")"

# --remove: only models of mlip-kim-install, and only installed ones
expect_status 2 $P --remove mlip_shifted
expect_err "'mlip_shifted' was not installed by mlip-kim-install"
expect_status 0 $P --remove mlip_t
expect_err "removed the KIM portable model 'mlip_t'"
[ -e "$KIM_API_PORTABLE_MODELS_DIR/mlip_t" ] && die "--remove left the model"
[ -e "$KIM_API_MODEL_DRIVERS_DIR/mlip_model_driver" ] || die "--remove removed the driver"
[ -e "$KIM_API_PORTABLE_MODELS_DIR/mlip_shifted" ] || die "--remove removed another model"
expect_status 2 $P --remove mlip_t
expect_err "no KIM portable model 'mlip_t' is installed"
# a name taken by a model of someone else is not overwritten
expect_status 2 $P -c environment "$M" mlip_shifted
expect_err "not installed by mlip-kim-install exists"
exit 0
