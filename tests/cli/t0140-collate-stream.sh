# Without --shuffle or --split, extxyz is collated as it arrives: batches are
# written before the input ends (a pipe from a slow producer, a file larger
# than memory), and the result equals collating the whole file at once.
. tests/cli/lib.sh
mlip-collate -q -c 4.5 -d si "$MLIP_TOP/share/demo/si-test.json" | mlip-collate --dump --dump-format extxyz > "$TMPD/all.xyz"
{ cat "$TMPD/all.xyz"; sleep 3; cat "$TMPD/all.xyz"; } | mlip-collate -q -c 4.5 -b 2 -o "$TMPD/out.mlb" - &
pid=$!
sleep 1.5
size=$(wc -c < "$TMPD/out.mlb.tmp" 2>/dev/null || echo 0)
wait $pid || die "collate failed"
[ "$size" -gt 100000 ] || die "only $size bytes written while the producer paused: not streaming"
cat "$TMPD/all.xyz" "$TMPD/all.xyz" > "$TMPD/twice.xyz"
mlip-collate -q -c 4.5 -b 2 -o "$TMPD/whole.mlb" "$TMPD/twice.xyz"
mlip-collate --dump "$TMPD/out.mlb" | sed 's/"sid":"[^"]*"//' > "$TMPD/a.jsonl"
mlip-collate --dump "$TMPD/whole.mlb" | sed 's/"sid":"[^"]*"//' > "$TMPD/b.jsonl"
cmp -s "$TMPD/a.jsonl" "$TMPD/b.jsonl" || die "streamed and whole-file collation differ"
expect_eq "$(wc -l < "$TMPD/a.jsonl" | tr -d ' ')" 50 "structures"
