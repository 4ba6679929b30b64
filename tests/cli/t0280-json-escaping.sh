# Every JSON Lines record is valid JSON whatever a task or dataset is called:
# names with quotes, backslashes and control characters, through mlip-train's
# metrics, mlip-eval's results and per-structure lines, and mlip-collate --dump.
. tests/cli/lib.sh
command -v jq >/dev/null 2>&1 || die "jq is missing (make deps installs it)"
D="$TMPD"
ds='a"b\c'
mlip-collate -q -c 4.5 -d "$ds" -b 4 --split 0.8 --seed 2 -o "$D/train.mlb" -o "$D/val.mlb" \
	share/demo/si-test.json || die "collate failed"
cat > "$D/cfg.yaml" <<'CFG'
seed: 3
model: {cutoff: 4.5, elements: [Si], hidden: [6]}
tasks:
  - {name: 'e"x\y', property: energy, datasets: ['a"b\c'], loss: per_atom_mse, normalizer: rmsd,
     element_references: fit, metrics: [mae]}
  - {name: "f\tq", property: forces, datasets: ['a"b\c'], loss: mse, metrics: [mae]}
optim: {lr: 0.005, lbfgs: {steps: 2}}
schedule: {epochs: 2}
train: {print_every: 1, profile_flops: true, debug_checksums: true}
CFG
mlip-train -q -c "$D/cfg.yaml" -o "$D/run" --set "data.train=[$D/train.mlb]" \
	--set "data.val=[$D/val.mlb]" > "$D/metrics.jsonl" || die "training failed"
# every line parses, and the names come back as they were written
n=0
while IFS= read -r line; do
	printf '%s\n' "$line" | jq -e . > /dev/null || die "not JSON: $line"
	n=$((n + 1))
done < "$D/metrics.jsonl"
[ "$n" -ge 5 ] || die "only $n metrics lines"
jq -e 'select(.type == "train") | has("loss/e\"x\\y") and has("loss/f\tq")' "$D/metrics.jsonl" \
	| grep -qv true && die "a train record lacks the escaped task names"
jq -e 'select(.type == "val") | has("val/a\"b\\c,e\"x\\y,mae")' "$D/metrics.jsonl" | grep -q true \
	|| die "no val record with the escaped dataset and task names"

M="$D/run/inference_ckpt.mlip"
mlip-eval --per-structure --jsonl "$D/history.jsonl" "$M" "$D/val.mlb" > "$D/eval.jsonl" \
	|| die "mlip-eval failed"
while IFS= read -r line; do
	printf '%s\n' "$line" | jq -e . > /dev/null || die "mlip-eval wrote invalid JSON: $line"
done < "$D/eval.jsonl"
jq -e '."a\"b\\c,f\tq,mae" > 0' "$D/history.jsonl" > /dev/null || die "--jsonl history lacks the metric"
jq -r 'select(.sid) | .dataset' "$D/eval.jsonl" | grep -qxF "$ds" || die "per-structure dataset mangled"

mlip-collate --dump "$D/val.mlb" > "$D/dump.jsonl" || die "dump failed"
jq -r .dataset "$D/dump.jsonl" | sort -u | grep -qxF "$ds" || die "dump dataset mangled"
for f in "$D"/run/debug/checksums.rank*.jsonl; do
	jq -e .tensors "$f" > /dev/null || die "invalid checksum record in $f"
done
