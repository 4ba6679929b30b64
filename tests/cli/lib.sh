# Helpers for the command-line tests; sourced by tests/cli/tNNNN-*.sh.
# Every helper prints what was expected and what happened, then exits 1.
set -u

die() { echo "$*" >&2; exit 1; }

# expect_status N CMD...: run CMD, require exit status N; stdout in $TMPD/out,
# stderr in $TMPD/err.
expect_status() {
	want=$1; shift
	"$@" >"$TMPD/out" 2>"$TMPD/err"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "command: $*" >&2
		echo "expected exit status $want, got $got; stderr:" >&2
		cat "$TMPD/err" >&2
		exit 1
	fi
}

# expect_err TEXT: the last command's stderr contains TEXT.
expect_err() {
	grep -qF -- "$1" "$TMPD/err" || { echo "stderr lacks: $1" >&2; echo "stderr was:" >&2; cat "$TMPD/err" >&2; exit 1; }
}

# expect_out TEXT: the last command's stdout contains TEXT.
expect_out() {
	grep -qF -- "$1" "$TMPD/out" || { echo "stdout lacks: $1" >&2; head -c 2000 "$TMPD/out" >&2; exit 1; }
}

# expect_eq A B WHAT
expect_eq() {
	[ "$1" = "$2" ] || die "$3: expected '$2', got '$1'"
}

# The Debian Python with ASE (the pyenv one on PATH may lack it).
PY=/usr/bin/python3
have_ase() { "$PY" -c 'import ase' >/dev/null 2>&1; }
