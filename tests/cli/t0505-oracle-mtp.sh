# mlip's moment tensor basis against an independent PyTorch implementation
# (bench/peers/torch_mtp.py, full tensors and einsum from lib/mtp.h's
# definition): energies, forces, stresses (raw and physical) and every
# parameter gradient of a loss mixing energy, force and stress terms
# (tests/oracle/oracle_dump; the force and stress terms go through mlip's JVP)
# agree to 1e-10 relative, for models trained a few steps with mlip-train:
# levels 8, 12 and 16, max_order 2 and 3, two-body functions beyond the level
# (n_pair: si-l8-o2, syn-l12-o3), Si on mlearn data and a synthetic
# Si–C set (elements in both orders, so the per-pair radial channels are
# tested), on triclinic, thin, slab and cluster geometries, with the radial
# coefficients fixed (si-l8-o2, si-l16-o3, syn-l16-o2) and trained
# (model.descriptor.train_radial: si-l12-o3, syn-l12-o3, syn-l16-o3). The basis
# functions must be the ones torch derives, and so must fixed radial
# coefficients (from the model seed); trained ones torch reads from the tensor
# mtp.radial as a parameter, and compares their gradient with the others. torch also checks its forces and stress against
# finite differences, its einsum basis against the cosine sums of lib/mtp.h,
# and rotation, reflection and permutation invariance.
. tests/cli/lib.sh
oracle_setup   # skips without torch; ORACLE, TORCH and the Si and Si–C data

# --- models
si_config "$TMPD/si.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
train() { # NAME CONFIG DESCRIPTOR [--set ...]
	name=$1 cfg=$2 desc=$3; shift 3
	mlip-train -q -c "$cfg" -o "$TMPD/$name" --set train.print_every=0 \
		--set "model.descriptor={type: mtp, $desc}" "$@" > /dev/null || die "training $name failed"
}
AUX="--set model.heads=[energy,aux]"
AUX_E='tasks.3={name: aux, property: energy, head: aux, datasets: [si], loss: mse, normalizer: rmsd, element_references: fit}'
AUX_F='tasks.4={name: auxf, property: forces, head: aux, datasets: [si], loss: mse}'
train si-l8-o2 "$TMPD/si.yaml" "level: 8, max_order: 2, n_pair: 5" --set schedule.epochs=2
train si-l12-o3 "$TMPD/si.yaml" "level: 12, r_min: 1.5, train_radial: true" --set schedule.epochs=2 \
	--set model.activation=silu $AUX --set "$AUX_E" --set "$AUX_F"
train si-l16-o3 "$TMPD/si.yaml" "level: 16, r_min: 0.8, n_radial: 10" --set schedule.epochs=1 \
	--set model.activation=softplus --set model.hidden=[8]

cat > "$TMPD/syn.yaml" <<CFG
seed: 5
data: {train: [$TMPD/syn.mlb]}
model: {cutoff: 4.0, elements: [Si, C], hidden: [10, 7], heads: [energy, aux], seed: 17}
$SYN_TRAINING
CFG
train syn-l12-o3 "$TMPD/syn.yaml" "level: 12, r_min: 1.0, train_radial: true, n_pair: 6"
train syn-l16-o2 "$TMPD/syn.yaml" "level: 16, max_order: 2, n_radial: 6" --set model.activation=silu \
	--set model.elements=[C,Si]
train syn-l16-o3 "$TMPD/syn.yaml" "level: 16, r_min: 1.2, train_radial: true" --set model.activation=softplus \
	--set model.elements=[C,Si] --set model.hidden=[9] --set model.seed=123456789012

# --- what mlip computes, then torch's verdict
pairs=""
labels=""
seed=21
for run in si-l8-o2 si-l12-o3 si-l16-o3 syn-l12-o3 syn-l16-o2 syn-l16-o3; do
	case $run in
	si-*) structs="$TMPD/si_val.xyz $TMPD/si_eval.xyz" ;;
	*) structs="$TMPD/syn_eval.xyz $TMPD/syn_train.xyz" ;;
	esac
	seed=$((seed + 1))
	"$ORACLE" --seed $seed "$TMPD/$run/inference_ckpt.mlip" $structs > "$TMPD/$run.json" \
		|| die "oracle_dump failed on $run"
	grep -q '"mtp":{' "$TMPD/$run.json" || die "$run: the dump has no moment tensor basis"
	pairs="$pairs $TMPD/$run/inference_ckpt.mlip $TMPD/$run.json"
	labels="$labels --label $run"
done
# mlip's naive loop kernels, and the raw (non-EMA) weights
"$ORACLE" --seed 5 --naive "$TMPD/syn-l12-o3/inference_ckpt.mlip" "$TMPD/syn_eval.xyz" \
	> "$TMPD/naive.json" || die "oracle_dump --naive failed"
"$ORACLE" --seed 6 --weights raw "$TMPD/syn-l12-o3/inference_ckpt.mlip" "$TMPD/syn_eval.xyz" \
	> "$TMPD/raw.json" || die "oracle_dump --weights raw failed"
$TORCH compare --weights raw --label syn-l12-o3-raw "$TMPD/syn-l12-o3/inference_ckpt.mlip" "$TMPD/raw.json" \
	|| die "torch and mlip disagree on the raw weights"
$TORCH compare --verbose --fd $labels --label syn-l12-o3-naive $pairs "$TMPD/syn-l12-o3/inference_ckpt.mlip" \
	"$TMPD/naive.json" > "$TMPD/compare.out" 2>&1
rc=$?
cat "$TMPD/compare.out"
[ $rc -eq 0 ] || die "torch and mlip disagree (see above)"
grep -q "finite differences: stress" "$TMPD/compare.out" || die "no finite-difference check was made"
grep -q "mtp radial coefficients" "$TMPD/compare.out" || die "the radial coefficients were not compared"
# the trained coefficients were compared as parameters (3 runs, and the naive dump), and moved
[ "$(grep -c "^[^ ]*  *gradient  *mtp.radial  *[0-9.]*e-1[0-9]$" "$TMPD/compare.out")" -eq 4 ] ||
	die "the gradients of mtp.radial were not compared"
grep -q "trained max |c - c_seed| = [1-9]" "$TMPD/compare.out" ||
	grep -q "trained max |c - c_seed| = [0-9.]*e-0[1-4]" "$TMPD/compare.out" ||
	die "training did not move the radial coefficients"

# --- torch against itself: cosine sums, rotations with reflection, permutations
$PY bench/peers/torch_mtp.py check "$TMPD/si-l16-o3/inference_ckpt.mlip" "$TMPD/si-l16-o3.json" \
	"$TMPD/syn-l16-o3/inference_ckpt.mlip" "$TMPD/syn-l16-o3.json" || die "torch's own checks failed"

# --- the comparison can fail: one gradient entry off by 1e-8 (a weight's, a trained radial
# coefficient's), one radial coefficient by 1e-8, two basis functions swapped (one
# compare, a bad dump each)
$PY - "$TMPD/naive.json" "$TMPD" <<'PYEOF' || exit 1
import json, sys
def nudge(g, k):  # one entry off by 1e-8 of the tensor's norm (compare's measure)
    g[k] += 1e-8 * sum(x * x for x in g) ** 0.5
for name, change in (("grad", 'nudge(d["grads"]["Si.w1"], 7)'),
                     ("rgrad", 'nudge(d["grads"]["mtp.radial"], 9)'),
                     ("radial", 'd["mtp"]["radial"][5] += 1e-8'),
                     ("funcs", 'f = d["mtp"]["funcs"]; f[20], f[21] = f[21], f[20]')):
    d = json.load(open(sys.argv[1]))
    exec(change)
    json.dump(d, open(f"{sys.argv[2]}/bad-{name}.json", "w"))
PYEOF
M="$TMPD/syn-l12-o3/inference_ckpt.mlip"
$TORCH compare --label bad-grad --label bad-radial --label bad-funcs \
	"$M" "$TMPD/bad-grad.json" "$M" "$TMPD/bad-radial.json" \
	"$M" "$TMPD/bad-funcs.json" > "$TMPD/bad.out" 2>&1 \
	&& { cat "$TMPD/bad.out" >&2; die "the bad dumps were not noticed"; }
$TORCH compare --label bad-rgrad "$M" "$TMPD/bad-rgrad.json" >> "$TMPD/bad.out" 2>&1 \
	&& { cat "$TMPD/bad.out" >&2; die "the bad radial gradient was not noticed"; }
for want in "gradient .* bad-grad Si.w1 .*> 1e-10" "gradient .* bad-rgrad mtp.radial .*> 1e-10" \
	"mtp radial coefficients .* bad-radial .*> 1e-10" \
	"bad-funcs: PROBLEM: basis functions differ from number 20 on"; do
	grep -q "$want" "$TMPD/bad.out" || { cat "$TMPD/bad.out" >&2; die "no failure '$want'"; }
done
exit 0
