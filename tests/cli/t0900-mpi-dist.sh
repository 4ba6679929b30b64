# MPI collectives under mpiexec -n 2 (and a world of one without mpiexec).
. tests/cli/lib.sh
t=build/tests/mpi/dist_test
[ -x "$t" ] || die "$t not built"
expect_status 0 "$t"
expect_out "ok 1 ranks"
expect_status 0 timeout 60 $MPIEXEC -n 2 "$t"
expect_out "ok 2 ranks"
