# mlip against an independent PyTorch implementation (bench/peers/torch_bpnn.py):
# energies, forces, stresses (raw and physical) and every parameter gradient of
# a loss mixing energy, force and stress terms (tests/oracle/oracle_dump) agree
# to 1e-10 relative, for models trained a few steps with mlip-train: Si on
# mlearn data and a synthetic Si–C set (explicit G2/G3/G9 functions with their
# own cutoffs, and the default set), tanh / silu / softplus, one and two heads,
# on triclinic, thin, slab and cluster geometries. torch also checks its own
# forces and stress against finite differences.
. tests/cli/lib.sh
oracle_setup   # skips without torch; ORACLE, TORCH and the Si and Si–C data

# --- models
si_config "$TMPD/si.yaml" "$TMPD/train.mlb" "$TMPD/val.mlb"
train() { # NAME CONFIG [--set ...]
	name=$1 cfg=$2; shift 2
	mlip-train -q -c "$cfg" -o "$TMPD/$name" --set train.print_every=0 "$@" > /dev/null \
		|| die "training $name failed"
}
TWO_HEADS="--set model.heads=[energy,aux]"
AUX_E='tasks.3={name: aux, property: energy, head: aux, datasets: [si], loss: mse, normalizer: rmsd, element_references: fit}'
AUX_F='tasks.4={name: auxf, property: forces, head: aux, datasets: [si], loss: mse}'
train si-tanh-h1 "$TMPD/si.yaml" --set schedule.epochs=2
for act in tanh silu softplus; do
	train "si-$act-h2" "$TMPD/si.yaml" --set schedule.epochs=2 --set "model.activation=$act" \
		$TWO_HEADS --set "$AUX_E" --set "$AUX_F"
done

cat > "$TMPD/syn.yaml" <<CFG
seed: 5
data: {train: [$TMPD/syn.mlb]}
model:
  cutoff: 4.0
  elements: [Si, C]
  hidden: [10, 7]
  heads: [energy, aux]
  descriptors:
    - {kind: g2, elements: [Si], eta: 0.5}
    - {kind: g2, elements: [Si], eta: 2.0, rs: 2.0, cutoff: 3.5}
    - {kind: g2, elements: [C], eta: 1.0, rs: 1.5}
    - {kind: g2, elements: [C], eta: 0.3, cutoff: 3.0}
    - {kind: g9, elements: [Si, Si], eta: 0.05, lambda: 1, zeta: 1}
    - {kind: g9, elements: [Si, C], eta: 0.1, rs: 0.5, lambda: -1, zeta: 2}
    - {kind: g9, elements: [C, C], eta: 0.02, lambda: 1, zeta: 4, cutoff: 3.5}
    - {kind: g9, elements: [C, Si], eta: 0.2, lambda: 1, zeta: 3, cutoff: 3.8}
    - {kind: g3, elements: [Si, C], eta: 0.05, lambda: 1, zeta: 2}
    - {kind: g3, elements: [Si, Si], eta: 0.1, rs: 1.0, lambda: -1, zeta: 1, cutoff: 3.2}
    - {kind: g3, elements: [C, C], eta: 0.01, lambda: 1, zeta: 16}
$SYN_TRAINING
CFG
train syn-tanh-h2 "$TMPD/syn.yaml"
train syn-silu-h2 "$TMPD/syn.yaml" --set model.activation=silu --set model.descriptors=
train syn-softplus-h2 "$TMPD/syn.yaml" --set model.activation=softplus --set model.hidden=[9]

# --- what mlip computes, then torch's verdict
pairs=""
labels=""
seed=11
for run in si-tanh-h1 si-tanh-h2 si-silu-h2 si-softplus-h2 syn-tanh-h2 syn-silu-h2 syn-softplus-h2; do
	case $run in
	si-*) structs="$TMPD/si_val.xyz $TMPD/si_eval.xyz" ;;
	*) structs="$TMPD/syn_eval.xyz $TMPD/syn_train.xyz" ;;
	esac
	seed=$((seed + 1))
	"$ORACLE" --seed $seed "$TMPD/$run/inference_ckpt.mlip" $structs > "$TMPD/$run.json" \
		|| die "oracle_dump failed on $run"
	pairs="$pairs $TMPD/$run/inference_ckpt.mlip $TMPD/$run.json"
	labels="$labels --label $run"
done
# mlip's naive loop kernels (the reference beside BLAS) too
"$ORACLE" --seed 5 --naive "$TMPD/syn-tanh-h2/inference_ckpt.mlip" "$TMPD/syn_eval.xyz" \
	> "$TMPD/naive.json" || die "oracle_dump --naive failed"
pairs="$pairs $TMPD/syn-tanh-h2/inference_ckpt.mlip $TMPD/naive.json"
labels="$labels --label syn-tanh-h2-naive"
# the raw weights too (the EMA is primary in these checkpoints)
"$ORACLE" --seed 3 --weights raw "$TMPD/syn-tanh-h2/inference_ckpt.mlip" "$TMPD/syn_eval.xyz" \
	> "$TMPD/raw.json" || die "oracle_dump --weights raw failed"
cmp -s "$TMPD/raw.json" "$TMPD/syn-tanh-h2.json" && die "raw and EMA weights gave the same dump"
$TORCH compare --weights raw --label syn-tanh-h2-raw "$TMPD/syn-tanh-h2/inference_ckpt.mlip" "$TMPD/raw.json" \
	|| die "torch and mlip disagree on the raw weights"
$TORCH compare --label raw-as-ema "$TMPD/syn-tanh-h2/inference_ckpt.mlip" "$TMPD/raw.json" >/dev/null 2>&1 \
	&& die "the EMA weights matched a dump of the raw weights"
$TORCH compare --fd $labels $pairs > "$TMPD/compare.out" 2>&1
rc=$?
cat "$TMPD/compare.out"
[ $rc -eq 0 ] || die "torch and mlip disagree (see above)"
grep -q "finite differences: stress" "$TMPD/compare.out" || die "no finite-difference check was made"

# --- the comparison can fail: one gradient entry off by 1e-8, one stress component by 1e-7
$PY - "$TMPD/syn-tanh-h2.json" "$TMPD/bad.json" <<'PYEOF' || exit 1
import json, sys
d = json.load(open(sys.argv[1]))
d["grads"]["C.w1"][3] *= 1 + 1e-8
json.dump(d, open(sys.argv[2], "w"))
PYEOF
$TORCH compare "$TMPD/syn-tanh-h2/inference_ckpt.mlip" "$TMPD/bad.json" > "$TMPD/bad.out" 2>&1 \
	&& die "a gradient off by 1e-8 relative was not noticed"
grep -q "gradient .* > 1e-10" "$TMPD/bad.out" || { cat "$TMPD/bad.out" >&2; die "no gradient failure reported"; }
$PY - "$TMPD/syn-tanh-h2.json" "$TMPD/bad2.json" <<'PYEOF' || exit 1
import json, sys
d = json.load(open(sys.argv[1]))
d["structures"][1]["raw"]["stress"][4] += 1e-7      # the thin cell
json.dump(d, open(sys.argv[2], "w"))
PYEOF
$TORCH compare "$TMPD/syn-tanh-h2/inference_ckpt.mlip" "$TMPD/bad2.json" > "$TMPD/bad.out" 2>&1 \
	&& die "a stress off by 1e-7 was not noticed"
grep -q "stress raw .* > 1e-10" "$TMPD/bad.out" || { cat "$TMPD/bad.out" >&2; die "no stress failure reported"; }
exit 0
