#!/bin/sh
# make bench: every benchmark, figures on stdout. Noisy on a shared 2-core
# machine: compare ratios within one run.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
: "${MLIP_MLEARN_DIR:=$top/../shared/data/mlearn}"
export MLIP_MLEARN_DIR
out=$(mktemp)
trap 'rm -f "$out"' EXIT
exec 3>&1
{
echo "# mlip benchmarks on $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
for b in build/bench/bench_*; do
	[ -x "$b" ] || continue
	echo "## $(basename "$b")"
	"$b"
done
echo "## bench_api mtp (share/configs/mtp.yaml's model)"
build/bench/bench_api 10 5 mtp
sh bench/collate.sh
sh bench/eval.sh
sh bench/lammps.sh
sh bench/memory.sh
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	sh bench/peers/bench_torch.sh
else
	echo "## PyTorch peer: skipped (python3-torch is not installed; make deps installs it)"
fi
} | tee "$out" >&3
# The figures also go to bench/RESULTS.md ("Speed" section; others are kept).
results="${MLIP_BENCH_RESULTS:-$top/bench/RESULTS.md}"
[ "$results" = "-" ] && exit 0
/usr/bin/python3 - "$out" "$results" <<'PYEOF'
import os, platform, sys
text = open(sys.argv[1]).read().rstrip("\n")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
# an indented block: no line of it starts with "## ", which marks sections here
sec = ["## Speed (make bench)", "",
       "Machine: %s, %d cores. Other jobs may share the machine: compare ratios within one run." % (cpu, os.cpu_count()),
       ""] + ["    " + l for l in text.split("\n")] + [""]
path = sys.argv[2]
old = open(path).read() if os.path.exists(path) else "# mlip benchmark results\n\n"
start = old.find("## Speed")
if start >= 0:
    end = old.find("\n## ", start + 1)
    old = old[:start] + (old[end + 1:] if end >= 0 else "")
open(path, "w").write(old.rstrip("\n") + "\n\n" + "\n".join(sec))
print("written to " + path)
PYEOF
