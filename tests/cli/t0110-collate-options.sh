# Batching, packing, shuffling, splitting and label exclusion.
. tests/cli/lib.sh
si="$MLIP_TOP/share/demo/si-test.json"   # 25 structures
count() { mlip-collate --dump "$1" | wc -l | tr -d ' '; }
sids() { mlip-collate --dump "$1" | $PY -c 'import sys,json; print(" ".join(json.loads(l)["sid"].split(":")[-1] for l in sys.stdin))'; }

# batch size: 25 structures in batches of 4 -> 7 records; the number of
# records is visible in the summary line
expect_status 0 mlip-collate -c 4 -b 4 -o "$TMPD/b4.mlb" "$si"
expect_err "25 structures"
expect_err "in 7 batches"
expect_eq "$(count "$TMPD/b4.mlb")" 25 "structures"
expect_eq "$(sids "$TMPD/b4.mlb")" "$(seq -s ' ' 0 24)" "order without --shuffle"

# greedy packing
expect_status 0 mlip-collate -c 4 --max-atoms 130 -o "$TMPD/m.mlb" "$si"
expect_eq "$(count "$TMPD/m.mlb")" 25 "structures with --max-atoms"
expect_status 2 mlip-collate -c 4 --max-atoms 10 -o "$TMPD/m2.mlb" "$si"
expect_err "do not fit in --max-atoms 10"
[ -e "$TMPD/m2.mlb" ] && die "failed run left an output"
[ -e "$TMPD/m2.mlb.tmp" ] && die "failed run left a temporary file"

# shuffle: reproducible with a seed, a permutation, different for another seed
mlip-collate -q -c 4 --shuffle --seed 7 -o "$TMPD/s7.mlb" "$si"
mlip-collate -q -c 4 --shuffle --seed 7 -o "$TMPD/s7b.mlb" "$si"
mlip-collate -q -c 4 --shuffle --seed 8 -o "$TMPD/s8.mlb" "$si"
cmp -s "$TMPD/s7.mlb" "$TMPD/s7b.mlb" || die "same seed, different shuffle"
a=$(sids "$TMPD/s7.mlb"); b=$(sids "$TMPD/s8.mlb")
[ "$a" != "$b" ] || die "seeds 7 and 8 gave the same order"
[ "$a" != "$(seq -s ' ' 0 24)" ] || die "shuffle did not shuffle"
expect_eq "$(echo $a | tr ' ' '\n' | sort -n | tr '\n' ' ')" "$(seq -s ' ' 0 24) " "shuffle is a permutation"

# split: 0.8 of 25 = 20 / 5, disjoint, covering, reproducible, order kept
expect_status 0 mlip-collate -c 4 --split 0.8 --seed 3 -o "$TMPD/tr.mlb" -o "$TMPD/va.mlb" "$si"
expect_eq "$(count "$TMPD/tr.mlb")" 20 "train part"
expect_eq "$(count "$TMPD/va.mlb")" 5 "validation part"
all=$( (sids "$TMPD/tr.mlb"; sids "$TMPD/va.mlb") | tr ' ' '\n' | sort -n | tr '\n' ' ')
expect_eq "$all" "$(seq -s ' ' 0 24) " "split covers every structure once"
t=$(sids "$TMPD/tr.mlb")
expect_eq "$t" "$(echo $t | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')" "split keeps input order"
mlip-collate -q -c 4 --split 0.8 --seed 3 -o "$TMPD/tr2.mlb" -o "$TMPD/va2.mlb" "$si"
cmp -s "$TMPD/va.mlb" "$TMPD/va2.mlb" || die "split not reproducible"
mlip-collate -q -c 4 --split 0.8 --seed 4 -o "$TMPD/tr3.mlb" -o "$TMPD/va3.mlb" "$si"
[ "$(sids "$TMPD/va3.mlb")" != "$(sids "$TMPD/va.mlb")" ] || die "seed does not change the split"
expect_status 2 mlip-collate -c 4 --split 0.8 -o "$TMPD/x.mlb" "$si"
expect_err "--split needs two outputs"
expect_status 2 mlip-collate -c 4 --split 1.5 -o a -o b "$si"

# exclude: labels become null, structures stay
mlip-collate -q -c 4 --exclude stress,energy "$si" | mlip-collate --dump > "$TMPD/ex.jsonl"
$PY -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 25
assert all(r["stress"] is None and r["energy"] is None and r["forces"] is not None for r in rows)
' "$TMPD/ex.jsonl" || die "exclude"
expect_status 2 mlip-collate -c 4 --exclude charges "$si"
expect_err "cannot exclude 'charges'"

# dataset default and -d
mlip-collate -q -c 4 "$si" | mlip-collate --dump | head -n 1 | grep -q '"dataset":"default"' || die "default dataset"

# extxyz dump round trip: stream -> extxyz -> stream -> same JSON dump
mlip-collate -q -c 4 -d si "$si" > "$TMPD/a.mlb"
mlip-collate --dump --dump-format extxyz "$TMPD/a.mlb" > "$TMPD/a.xyz"
mlip-collate -q -c 4 -d si - < "$TMPD/a.xyz" > "$TMPD/b.mlb"
mlip-collate --dump "$TMPD/a.mlb" | sed 's/"sid":"[^"]*"//' > "$TMPD/a.jsonl"
mlip-collate --dump "$TMPD/b.mlb" | sed 's/"sid":"[^"]*"//' > "$TMPD/b.jsonl"
cmp -s "$TMPD/a.jsonl" "$TMPD/b.jsonl" || die "extxyz round trip changed a number"

# usage errors
expect_status 2 mlip-collate "$si"
expect_err "missing --cutoff"
expect_status 2 mlip-collate -c 4
expect_err "no input files"
expect_status 2 mlip-collate -c -1 "$si"
expect_status 2 mlip-collate -c 4 -b 0 "$si"
expect_status 2 mlip-collate -c 4 -f pdb "$si"
expect_status 4 mlip-collate -c 4 "$TMPD/no-such-file.xyz"
expect_err "cannot open"
