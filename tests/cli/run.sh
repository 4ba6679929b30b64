#!/bin/sh
# Run every tests/cli/tNNNN-*.sh (git's numbering). Each script is run with
# sh from the top of the tree, with bin/ first on PATH and a fresh scratch
# directory in $TMPD; it exits 0 on success. Prints one line per script and
# "N passed, N failed" last. `sh tests/cli/run.sh t0100` runs a subset.
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
PATH="$top/bin:$PATH"
MLIP_TOP="$top"
MLIP_PLUGIN_PATH="$top/lib/plugins"
export PATH MLIP_TOP MLIP_PLUGIN_PATH
: "${MLIP_MLEARN_DIR:=$top/../shared/data/mlearn}"
export MLIP_MLEARN_DIR
pass=0 fail=0 failed=""
for t in tests/cli/t[0-9][0-9][0-9][0-9]-*.sh; do
	name=$(basename "$t" .sh)
	if [ $# -gt 0 ]; then
		case " $* " in *" ${name%%-*} "*|*" $name "*) ;; *) continue ;; esac
	fi
	TMPD=$(mktemp -d "${TMPDIR:-/tmp}/mlip-$name.XXXXXX")
	export TMPD
	if sh "$t" >"$TMPD.log" 2>&1; then
		pass=$((pass + 1))
		# a script that skips part of its work says "skip: why" or "note: ..."; show it
		notes=$(grep -E '^(skip|note): ' "$TMPD.log" | tr '\n' ';' | sed 's/;$//')
		if [ -n "$notes" ]; then echo "ok - $name # $notes"; else echo "ok - $name"; fi
	else
		fail=$((fail + 1)); failed="$failed $name"; echo "FAIL - $name"
		sed 's/^/    /' "$TMPD.log" | tail -n 40
	fi
	rm -rf "$TMPD" "$TMPD.log"
done
echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
