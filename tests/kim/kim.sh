# Shared by the KIM tests (tests/cli/t070*-kim-*.sh), sourced after
# tests/cli/lib.sh.
#
# kim_setup: skip (visibly, status 0) when LAMMPS with its KIM package or the
# KIM API tools are not installed; otherwise isolate the KIM collections in
# $TMPD: HOME (the user collection's config file lives there) and the
# environment collection, where the tests install, so that no test reads or
# writes the user's own collections.
kim_setup() {
	if ! command -v lmp >/dev/null 2>&1; then
		echo "skip: lmp (LAMMPS) is not installed (Debian: apt-get install lammps)"
		exit 0
	fi
	if ! lmp -h 2>/dev/null | grep -q '\<KIM\>'; then
		echo "skip: this LAMMPS has no KIM package"
		exit 0
	fi
	if ! command -v kim-api-collections-management >/dev/null 2>&1; then
		echo "skip: the KIM API tools are not installed (Debian: apt-get install libkim-api-dev)"
		exit 0
	fi
	have_ase || die "python3-ase is missing (make deps installs it)"
	[ -e "$MLIP_TOP/lib/libmlip.so.1" ] || die "lib/libmlip.so.1 is missing: build it with 'make shlib'"
	HOME="$TMPD/home"
	KIM_API_MODEL_DRIVERS_DIR="$TMPD/kim/drivers"
	KIM_API_PORTABLE_MODELS_DIR="$TMPD/kim/models"
	KIM_API_SIMULATOR_MODELS_DIR="$TMPD/kim/simulator-models"
	export HOME KIM_API_MODEL_DRIVERS_DIR KIM_API_PORTABLE_MODELS_DIR KIM_API_SIMULATOR_MODELS_DIR
	unset KIM_API_CONFIGURATION_FILE
	mkdir -p "$HOME" "$KIM_API_MODEL_DRIVERS_DIR" "$KIM_API_PORTABLE_MODELS_DIR" \
		"$KIM_API_SIMULATOR_MODELS_DIR" || die "mkdir"
	KIMPY="$MLIP_TOP/tests/kim/lmp.py"
	# Open MPI, which Debian's lammps links (mpiexec.mpich is the toolkit's own)
	LMP_MPIEXEC="mpiexec.openmpi --allow-run-as-root --oversubscribe"
}

# lmp_run LOG ARGS...: LAMMPS in $TMPD, its log in LOG; dies with the log's
# tail on failure
lmp_run() {
	log=$1; shift
	( cd "$TMPD" && lmp -screen none -log "$log" "$@" ) > "$TMPD/lmp.out" 2>&1 ||
		{ tail -n 20 "$TMPD/$log" >&2; cat "$TMPD/lmp.out" >&2; die "lmp $* failed"; }
}

# The `run 0` input of the comparisons, looped over the structures S of
# -var s S... (files ${pre}_S.data; log l_${pre}_S.log, dump f_${pre}_S.dump):
# energy, the six pressure components, the sums of the per-atom energies and
# virials, and the forces, every digit. One LAMMPS process for all: its start
# (MPI initialisation) costs about a second.
write_run0_input() {
	cat > "$1" <<'LMP'
label next_structure
log l_${pre}_${s}.log
kim init ${model} metal
atom_style atomic
boundary p p p
box tilt large
read_data ${pre}_${s}.data
kim interactions Si
velocity all set 0.0 0.0 0.0
compute pea all pe/atom
compute spe all reduce sum c_pea
compute sa all stress/atom NULL
compute ssa all reduce sum c_sa[1] c_sa[2] c_sa[3] c_sa[4] c_sa[5] c_sa[6]
thermo_style custom step pe pxx pyy pzz pxy pxz pyz c_spe &
	c_ssa[1] c_ssa[2] c_ssa[3] c_ssa[4] c_ssa[5] c_ssa[6]
thermo_modify norm no format float %.17g
dump d all custom 1 f_${pre}_${s}.dump id fx fy fz
dump_modify d format float %.17g sort id
run 0
clear
next s
jump SELF next_structure
LMP
}
