# make install puts programs, plugins, man pages, the plugin header and
# share/ under DESTDIR/PREFIX, and an installed program finds its plugins
# even when the tree is moved elsewhere.
. tests/cli/lib.sh
make -s install DESTDIR="$TMPD/dest" PREFIX=/opt/mlip >/dev/null || die "make install failed"
root="$TMPD/dest/opt/mlip"
for f in bin/mlip-collate bin/mlip-train bin/mlip-ckpt-convert lib/mlip/plugins/mlip-loss-mse.so \
	lib/mlip/plugins/mlip-normalizer-rmsd.so share/man/man1/mlip-train.1 share/man/man5/mlip-batch.5 \
	share/man/man7/mlip.7 include/mlip/mlip_plugin.h share/mlip/demo/si-train.json \
	share/mlip/demo/SOURCE.md; do
	[ -e "$root/$f" ] || die "not installed: $f"
done
mv "$root" "$TMPD/moved"
si_streams "$TMPD"
si_config "$TMPD/cfg.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
( unset MLIP_PLUGIN_PATH; PATH=/usr/bin:/bin
  "$TMPD/moved/bin/mlip-train" -q -c "$TMPD/cfg.yaml" -o "$TMPD/run" --set schedule.epochs=1 > /dev/null ) \
	|| die "the installed, moved mlip-train could not train"
[ -e "$TMPD/run/inference_ckpt.mlip" ] || die "no model from the installed program"
# the installed examples Makefile finds the installed programs, data and configs (moved tree too)
( unset MLIP_PLUGIN_PATH; PATH=/usr/bin:/bin
  make --no-print-directory -f "$TMPD/moved/share/mlip/examples/Makefile" OUT="$TMPD/exp" \
	SET="--set schedule.epochs=1 --unset optim.lbfgs" > "$TMPD/exp.log" 2>&1 ) \
	|| { cat "$TMPD/exp.log" >&2; die "the installed examples Makefile failed"; }
grep -q "$TMPD/moved/bin/mlip-train" "$TMPD/exp.log" || die "the examples Makefile ran other programs: $(head -5 "$TMPD/exp.log")"
[ -s "$TMPD/exp/test-metrics.json" ] || die "no metrics from the installed examples Makefile"
