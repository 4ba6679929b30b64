# mlip-ckpt-convert: --raw, and every way a checkpoint can be incomplete.
. tests/cli/lib.sh
si_streams "$TMPD"
si_config "$TMPD/cfg.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/run" --set schedule.epochs=2 > /dev/null || die "train failed"
ck="$TMPD/run/checkpoints/final"
expect_status 0 mlip-ckpt-convert "$ck" "$TMPD/ema.mlip"
expect_err "EMA weights primary (raw and EMA kept)"
expect_status 0 mlip-ckpt-convert -q --raw "$ck" "$TMPD/raw.mlip"
[ -s "$TMPD/out" ] && die "convert wrote to stdout"
cmp -s "$TMPD/ema.mlip" "$TMPD/raw.mlip" && die "--raw made no difference"
cmp -s "$TMPD/ema.mlip" "$ck/inference_ckpt.mlip" || die "convert differs from the run's model"
# without EMA only raw weights exist
mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/noema" --set schedule.epochs=1 --set train.ema_decay=none > /dev/null \
	|| die "train without EMA failed"
expect_status 0 mlip-ckpt-convert "$TMPD/noema/checkpoints/final" "$TMPD/n.mlip"
expect_err "raw weights primary"
# broken checkpoints
cp -r "$ck" "$TMPD/c1"; rm "$TMPD/c1/DONE"
expect_status 3 mlip-ckpt-convert "$TMPD/c1" "$TMPD/x.mlip"
expect_err "incomplete checkpoint"
[ -e "$TMPD/x.mlip" ] && die "output written for a broken checkpoint"
cp -r "$ck" "$TMPD/c2"; rm "$TMPD/c2/state.0.mlip"
expect_status 3 mlip-ckpt-convert "$TMPD/c2" "$TMPD/x.mlip"
expect_err "missing shard state.0.mlip of 1"
cp -r "$ck" "$TMPD/c3"
$PY -c '
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-5] ^= 1; open(p, "wb").write(b)' "$TMPD/c3/state.0.mlip"
expect_status 3 mlip-ckpt-convert "$TMPD/c3" "$TMPD/x.mlip"
expect_err "checksum mismatch"
cp -r "$ck" "$TMPD/c4"; rm "$TMPD/c4/resume.yaml"
expect_status 3 mlip-ckpt-convert "$TMPD/c4" "$TMPD/x.mlip"
expect_err "resume.yaml"
expect_status 4 mlip-ckpt-convert "$TMPD/nope" "$TMPD/x.mlip"
expect_err "no such checkpoint directory"
expect_status 2 mlip-ckpt-convert "$ck"
expect_status 4 mlip-ckpt-convert -q "$ck" "$TMPD/no/such/dir/x.mlip"
