#!/bin/sh
# make bench: every benchmark, figures on stdout. Noisy on a shared 2-core
# machine: compare ratios within one run.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
: "${MLIP_MLEARN_DIR:=$top/../shared/data/mlearn}"
export MLIP_MLEARN_DIR
echo "# mlip benchmarks on $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
for b in build/bench/bench_*; do
	[ -x "$b" ] || continue
	echo "## $(basename "$b")"
	"$b"
done
sh bench/collate.sh
sh bench/eval.sh
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	sh bench/peers/bench_torch.sh
else
	echo "## PyTorch peer: skipped (python3-torch is not installed; make deps installs it)"
fi
