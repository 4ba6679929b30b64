# What goes wrong says where and exits with the right status.
. tests/cli/lib.sh
si_streams "$TMPD"
si_config "$TMPD/cfg.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
# configuration errors: 2, with file:line:column
printf 'data: {train: x.mlb}\nmodel: {cutoff: 4.5, elements: [Si], hiden: [4]}\n' > "$TMPD/bad.yaml"
expect_status 2 mlip-train -q -c "$TMPD/bad.yaml" -o "$TMPD/r"
expect_err "$TMPD/bad.yaml:2:"
expect_err "hiden"
expect_status 2 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/r" --set optim.lr=-1
expect_err "optim.lr"
expect_status 2 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/r" --set nonsense
expect_status 2 mlip-train -q
expect_err "missing --config"
expect_status 2 mlip-train -q -c "$TMPD/cfg.yaml" extra-arg
# a model cutoff above the streams' cutoff
expect_status 2 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/r" --set model.cutoff=5.5
expect_err "collate again with -c 5.5"
# data: missing (4), damaged (3)
expect_status 4 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/r" --set "data.train=[$TMPD/none.mlb]"
expect_err "none.mlb"
head -c 3000 "$TMPD/train.mlb" > "$TMPD/cut.mlb"
expect_status 3 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/r" --set "data.train=[$TMPD/cut.mlb]"
expect_err "cut.mlb"
# a plugin that does not exist: 5, naming it and where it looked
expect_status 5 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/r" --set tasks.1.loss.name=nosuchloss
expect_err "nosuchloss"
# divergence: a huge learning rate makes the loss non-finite; the run stops with 1
expect_status 1 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/div" --set optim.lr=1e200 \
	--set train.max_nonfinite_steps=2 --set schedule.warmup_factor=1
expect_err "training diverged: 2 consecutive non-finite steps"
expect_err "training batch"
# forces and stress share the energy's scale
printf '  - {name: f2, property: forces, datasets: [si], loss: mse, normalizer: {name: rmsd, rmsd: 3}}\n' > "$TMPD/extra"
awk -v f="$TMPD/extra" '{print} /name: stress/ {while ((getline l < f) > 0) print l}' "$TMPD/cfg.yaml" > "$TMPD/conf.yaml"
expect_status 2 mlip-train -q -c "$TMPD/conf.yaml" -o "$TMPD/r"
expect_err "normalizer conflicts with task"
# deliberately broken plugins, through the program: 5, naming the file and both ABI versions
expect_status 5 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/r" --plugin-path tests/plugins \
	--set tasks.1.loss.name=badabi
expect_err "tests/plugins/mlip-loss-badabi.so"
expect_err "ABI"
for bad in nosym nullops noops; do
	expect_status 5 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/r" --plugin-path tests/plugins \
		--set tasks.1.loss.name=$bad
	expect_err "mlip-loss-$bad.so"
done
# model.precision is float64 or float32 (a run-time choice, t0240-train-float32); nothing else
expect_status 2 mlip-train -q -c "$TMPD/cfg.yaml" -o "$TMPD/r" --set model.precision=float16
expect_err "model.precision"
expect_err "valid: float64, float32"
