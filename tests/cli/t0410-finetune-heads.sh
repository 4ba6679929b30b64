# mlip-finetune-init --heads: a head copied from another predicts what it
# predicts (a fine-tuning run's step-0 metrics on the copy equal the base's),
# a fresh head trains with its own normalizer, dropping moves or removes
# tasks, and bad head lists are refused.
. tests/cli/lib.sh

si_streams "$TMPD"
si_config "$TMPD/base.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
mlip-train -q -c "$TMPD/base.yaml" -o "$TMPD/base" --set train.ema_decay=none > "$TMPD/base.jsonl" \
	|| die "base training failed"
base="$TMPD/base/inference_ckpt.mlip"

cat > "$TMPD/heads.yaml" <<'YAML'
heads:
  - {name: energy}
  - {name: li_energy, copy_from: energy}
  - other
YAML
expect_status 0 mlip-finetune-init "$base" -o "$TMPD/start.mlip" --heads "$TMPD/heads.yaml"
expect_err "head 'li_energy': weights, normalizer and element references copied from head 'energy'"
expect_err "head 'other': new, freshly initialised"

# the same tasks as the base, on the copy: same names, so the same metric keys
cat > "$TMPD/ft.yaml" <<CFG
seed: 3
data: {train: [$TMPD/train.mlb], val: [$TMPD/val.mlb]}
model: {init_from: $TMPD/start.mlip}
tasks:
  - {name: energy, head: li_energy, property: energy, datasets: [si], loss: per_atom_mse,
     metrics: [mae, per_atom_mae, rmse]}
  - {name: forces, head: li_energy, property: forces, datasets: [si], loss: {name: mse, coefficient: 10},
     metrics: [mae, rmse, cosine_similarity]}
  - {name: stress, head: li_energy, property: stress, datasets: [si], loss: {name: mse, coefficient: 1},
     metrics: [mae]}
optim: {lr: 0.002}
schedule: {steps: 1}
train: {eval_at_start: true, ema_decay: none, print_every: 0}
CFG
mlip-train -q -c "$TMPD/ft.yaml" -o "$TMPD/ft" > "$TMPD/ft.jsonl" || die "fine-tuning the copy failed"
$PY - "$TMPD/ft.jsonl" "$TMPD/base.jsonl" <<'PY' || die "the copied head does not predict what its source does"
import json, sys
def vals(p): return [json.loads(l) for l in open(p) if '"val"' in l]
a, b = vals(sys.argv[1])[0], vals(sys.argv[2])[-1]
assert a["step"] == 0
ka = sorted(k for k in a if k.startswith("val/")); kb = sorted(k for k in b if k.startswith("val/"))
assert ka == kb and len(ka) == 8, (ka, kb)
for k in ka:
    assert abs(a[k] - b[k]) <= 1e-12 * max(1.0, abs(a[k])), (k, a[k], b[k])
PY

# the fresh head has no normalizer: its task gives one and fits references
cat > "$TMPD/fresh.yaml" <<CFG
seed: 3
data: {train: [$TMPD/train.mlb], val: [$TMPD/val.mlb]}
model: {init_from: $TMPD/start.mlip}
tasks:
  - {name: e, head: other, property: energy, datasets: [si], loss: per_atom_mse, normalizer: rmsd,
     element_references: fit, metrics: [per_atom_mae]}
optim: {lr: 0.005}
schedule: {epochs: 2}
train: {eval_at_start: true, ema_decay: none, print_every: 0}
CFG
mlip-train -q -c "$TMPD/fresh.yaml" -o "$TMPD/fresh" > "$TMPD/fresh.jsonl" || die "training the fresh head failed"
$PY - "$TMPD/fresh.jsonl" <<'PY' || die "the fresh head did not learn"
import json, sys
v = [json.loads(l)["val/si,e,per_atom_mae"] for l in open(sys.argv[1]) if '"val"' in l]
assert len(v) == 3 and v[-1] < v[0], v
PY

# keep only the copy: the base's tasks move to it
printf 'heads:\n  - {name: li_energy, copy_from: energy}\n' > "$TMPD/h2.yaml"
expect_status 0 mlip-finetune-init "$base" -o "$TMPD/s2.mlip" --heads "$TMPD/h2.yaml"
expect_err "task 'forces': moved to head 'li_energy'"
expect_err "head 'energy': dropped"
# --set model.heads does the same by name: a new name is a fresh head
expect_status 0 mlip-finetune-init "$base" -o "$TMPD/s3.mlip" --set 'model.heads=[energy, extra]'
expect_err "head 'extra': new"

# refusals
printf 'heads: [other]\n' > "$TMPD/h3.yaml"
expect_status 2 mlip-finetune-init "$base" -o "$TMPD/x.mlip" --heads "$TMPD/h3.yaml"
expect_err "no task is left"
printf 'heads:\n  - {name: x, copy_from: nope}\n' > "$TMPD/h4.yaml"
expect_status 2 mlip-finetune-init "$base" -o "$TMPD/x.mlip" --heads "$TMPD/h4.yaml"
expect_err "copy_from 'nope' is not a head of the model (its heads: energy)"
printf 'heads:\n  - {name: x, copy: energy}\n' > "$TMPD/h5.yaml"
expect_status 2 mlip-finetune-init "$base" -o "$TMPD/x.mlip" --heads "$TMPD/h5.yaml"
expect_err "h5.yaml:2:15: unknown key 'heads.0.copy'"
printf 'heads: [a, a]\n' > "$TMPD/h6.yaml"
expect_status 2 mlip-finetune-init "$base" -o "$TMPD/x.mlip" --heads "$TMPD/h6.yaml"
expect_err "duplicate head 'a'"
expect_status 2 mlip-finetune-init "$base" -o "$TMPD/x.mlip" --heads "$TMPD/heads.yaml" --set 'model.heads=[a]'
expect_err "the heads come from the heads file"
expect_status 4 mlip-finetune-init "$base" -o "$TMPD/x.mlip" --heads "$TMPD/none.yaml"
expect_err "cannot open"
[ -e "$TMPD/x.mlip" ] && die "output written on a refusal"
exit 0
