# mlip-train -o DIR over an existing run is refused (exit 2, nothing touched)
# unless --force, which replaces that run's files so that none of its
# checkpoints survive to be resumed from; --resume continues a run in place.
. tests/cli/lib.sh
D="$TMPD"
si_streams "$D"
si_config "$D/cfg.yaml" "$D/train.mlb" "$D/val.mlb"
expect_status 0 mlip-train -q -c "$D/cfg.yaml" -o "$D/run" --set train.checkpoint_every=3 --set train.max_saved_checkpoints=10
[ -d "$D/run/checkpoints/step_3" ] || die "no step_3 checkpoint from the first run"
crc=$(cksum < "$D/run/inference_ckpt.mlip")
echo keep > "$D/run/notes.txt"

expect_status 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/run" --set schedule.epochs=1
expect_err "holds a run (config.yaml, inference_ckpt.mlip, checkpoints)"
expect_err "--force"
expect_eq "$(cksum < "$D/run/inference_ckpt.mlip")" "$crc" "the refused run changed the model"
[ -d "$D/run/checkpoints/step_3" ] || die "the refused run removed a checkpoint"

# under two ranks too (rank 0 decides, every rank stops)
expect_status 2 timeout 60 $MPIEXEC -n 2 mlip-train -q -c "$D/cfg.yaml" -o "$D/run"
expect_err "holds a run"

expect_status 0 mlip-train -q --force -c "$D/cfg.yaml" -o "$D/run" --set schedule.epochs=1
[ -d "$D/run/checkpoints/step_3" ] && die "--force left the old run's step_3 checkpoint"
[ -f "$D/run/notes.txt" ] || die "--force removed a file that is not the run's"
[ "$(cksum < "$D/run/inference_ckpt.mlip")" != "$crc" ] || die "--force did not write a new model"

# an empty directory is fine, and resuming in place is not an overwrite
mkdir "$D/empty"
expect_status 0 mlip-train -q -c "$D/cfg.yaml" -o "$D/empty" --set schedule.epochs=1
expect_status 0 mlip-train -q -c "$D/cfg.yaml" -o "$D/r2" --set train.checkpoint_every=3 --set train.max_saved_checkpoints=10
expect_status 0 mlip-train -q --resume "$D/r2/checkpoints/step_3"
