# Every program: --help on stdout with status 0, --version, a bad flag exits 2
# with a "try" hint, the --help synopsis matches the man page SYNOPSIS, and
# the man page has the sections STYLE.md requires.
. tests/cli/lib.sh
for prog in bin/mlip-*; do
	name=$(basename "$prog")
	expect_status 0 "$prog" --help
	expect_out "usage: $name"
	[ -s "$TMPD/err" ] && die "$name --help wrote to stderr"
	expect_status 0 "$prog" -h
	expect_status 0 "$prog" --version
	grep -qx "$name (mlip) [0-9]*\.[0-9]*\.[0-9]*" "$TMPD/out" || die "$name --version: $(cat "$TMPD/out")"
	expect_status 2 "$prog" --no-such-flag
	expect_err "try '$name --help'"
	[ -s "$TMPD/out" ] && die "$name: usage error wrote to stdout"
	# one message, naming the flag, and the hint: two lines
	expect_err "$name: unknown option '--no-such-flag'"
	[ "$(wc -l < "$TMPD/err")" -eq 2 ] || die "$name: a bad flag printed: $(cat "$TMPD/err")"
	man="man/man1/$name.1"
	[ -f "$man" ] || die "no man page $man"
	"$prog" --help > "$TMPD/help"
	$PY tests/cli/synopsis.py "$man" "$TMPD/help" || die "$name: synopsis mismatch"
	for sec in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO"; do
		grep -q "^\.SH \"*$sec\"*\$" "$man" || die "$man lacks section $sec"
	done
	grep -q "Part of the mlip(7) suite" "$man" || die "$man lacks the suite line"
	# every long option in --help is documented in the man page
	for opt in $(grep -o -- '--[a-z][a-z-]*' "$TMPD/help" | sort -u); do
		grep -q -- "$(echo "$opt" | sed 's/-/\\\\-/g')" "$man" || die "$man does not document $opt"
	done
done
