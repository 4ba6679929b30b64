# Started by another MPI's launcher (Open MPI's mpiexec, which Debian makes the
# plain `mpiexec` when Open MPI is installed; srun without PMI), every copy of
# an MPICH program sees a world of one: mlip-train and mlip-eval refuse (exit
# 2, naming the right launcher) instead of running K copies into one run
# directory. The launchers' variables are what tells.
. tests/cli/lib.sh
D="$TMPD"
si_streams "$D"
si_config "$D/cfg.yaml" "$D/train.mlb" "$D/val.mlb"
for var in OMPI_COMM_WORLD_SIZE=2 PMI_SIZE=3 SLURM_STEP_NUM_TASKS=4; do
	expect_status 2 env "$var" mlip-train -q -c "$D/cfg.yaml" -o "$D/run"
	expect_err "started as one of ${var#*=} processes ($var)"
	expect_err "use mpiexec.mpich -n ${var#*=}, or srun --mpi=pmi2"
	[ -e "$D/run" ] && die "a refused run created its directory"
done
# one process announced as one is fine, and MPICH's own launcher works
expect_status 0 env PMI_SIZE=1 mlip-train -q -c "$D/cfg.yaml" -o "$D/run" --set schedule.epochs=1
M="$D/run/inference_ckpt.mlip"
expect_status 2 env OMPI_COMM_WORLD_SIZE=2 mlip-eval "$M" "$D/val.mlb"
expect_err "MPI sees a world of one"
expect_status 0 timeout 60 $MPIEXEC -n 2 mlip-eval "$M" "$D/val.mlb"
# the real thing, when Open MPI is installed (Debian's lammps brings it)
if command -v mpiexec.openmpi >/dev/null 2>&1; then
	expect_status 2 timeout 60 mpiexec.openmpi --allow-run-as-root --oversubscribe -n 2 \
		mlip-eval "$M" "$D/val.mlb"
	expect_err "use mpiexec.mpich -n 2"
else
	echo "note: Open MPI's mpiexec is not installed; its launch was not tried"
fi
