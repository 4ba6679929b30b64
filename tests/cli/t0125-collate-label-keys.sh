# Labels under other names: MACE-style REF_energy / REF_forces / REF_stress and
# GAP's virial are read with --energy-key, --forces-key, --stress-key and
# --virial-key (stress = -virial / volume); without them mlip-collate warns
# about each label-like key or column it did not read, names the option, and
# its summary counts the labels written.
. tests/cli/lib.sh
have_ase || { echo "skip: python3-ase is not installed"; exit 0; }
D="$TMPD"
$PY - "$D" <<'PYEOF' || die "could not write the test files"
import sys
import numpy as np
from ase.build import bulk
from ase.io import write
rng = np.random.default_rng(1)
mace, gap = [], []
for k in range(5):
    a = bulk("Si", "diamond", a=5.43, cubic=True)
    a.rattle(0.05, seed=k)
    a.info["REF_energy"] = -43.0 + 0.1 * k
    a.arrays["REF_forces"] = rng.normal(size=(len(a), 3))
    s = rng.normal(size=(3, 3)) * 0.01
    a.info["REF_stress"] = (s + s.T).ravel()
    mace.append(a)
    b = a.copy()
    del b.arrays["REF_forces"]
    b.info = {"energy": -43.0, "virial": (-(s + s.T) * b.get_volume()).ravel()}
    gap.append(b)
write(sys.argv[1] + "/mace.xyz", mace, format="extxyz")
write(sys.argv[1] + "/gap.xyz", gap, format="extxyz")
PYEOF
# without the keys: nothing is read, and each unread label is named with its option
expect_status 0 mlip-collate -c 4.0 -o "$D/plain.mlb" "$D/mace.xyz"
expect_err "the info key 'REF_energy' (in 5 of 5 frames) is not read as a label; --energy-key REF_energy reads it"
expect_err "the column 'REF_forces' (in 5 of 5 frames) is not read as a label; --forces-key REF_forces reads it"
expect_err "the info key 'REF_stress' (in 5 of 5 frames) is not read as a label; --stress-key REF_stress reads it"
expect_err "5 structures (0 with an energy, 0 with forces, 0 with a stress)"
# with them: the values ASE wrote, and no warning (also through --split)
expect_status 0 mlip-collate -c 4.0 --energy-key REF_energy --forces-key REF_forces \
	--stress-key REF_stress -o "$D/mace.mlb" "$D/mace.xyz"
expect_err "5 structures (5 with an energy, 5 with forces, 5 with a stress)"
grep -q "not read as a label" "$TMPD/err" && die "a warning with the keys given: $(cat "$TMPD/err")"
expect_status 0 mlip-collate -q -c 4.0 --energy-key REF_energy --forces-key REF_forces \
	--stress-key REF_stress --split 0.6 -o "$D/a.mlb" -o "$D/b.mlb" "$D/mace.xyz"
mlip-collate --dump --dump-format extxyz "$D/mace.mlb" > "$D/back.xyz" || die "dump"
$PY - "$D/mace.xyz" "$D/back.xyz" <<'PYEOF' || die "the labels differ from the file's"
import sys
import numpy as np
from ase.io import read
a, b = read(sys.argv[1], ":"), read(sys.argv[2], ":")
assert len(a) == len(b) == 5
for x, y in zip(a, b):
    assert x.info["REF_energy"] == y.get_potential_energy()
    assert np.array_equal(x.arrays["REF_forces"], y.get_forces())
    assert np.allclose(np.asarray(x.info["REF_stress"]).reshape(3, 3), y.get_stress(voigt=False), rtol=0, atol=1e-15)
PYEOF
# GAP's virial: stress = -virial / volume; the plain energy is still read
expect_status 0 mlip-collate -c 4.0 -o "$D/gap0.mlb" "$D/gap.xyz"
expect_err "the info key 'virial' (in 5 of 5 frames) is not read as a label; --virial-key virial reads it"
expect_status 0 mlip-collate -c 4.0 --virial-key virial -o "$D/gap.mlb" "$D/gap.xyz"
expect_err "5 structures (5 with an energy, 0 with forces, 5 with a stress)"
mlip-collate --dump --dump-format extxyz "$D/gap.mlb" > "$D/gapback.xyz" || die "dump"
$PY - "$D/mace.xyz" "$D/gapback.xyz" <<'PYEOF' || die "stress from the virial is wrong"
import sys
import numpy as np
from ase.io import read
for x, y in zip(read(sys.argv[1], ":"), read(sys.argv[2], ":")):
    want = np.asarray(x.info["REF_stress"]).reshape(3, 3)
    assert np.allclose(y.get_stress(voigt=False), want, rtol=1e-12, atol=1e-16), (y.get_stress(voigt=False), want)
PYEOF
# a virial without a periodic cell is refused, naming the line
printf '1\nvirial="1 0 0 0 1 0 0 0 1" Properties=species:S:1:pos:R:3\nSi 0 0 0\n' > "$D/bad.xyz"
expect_status 3 mlip-collate -c 4.0 --virial-key virial -o "$D/bad.mlb" "$D/bad.xyz"
expect_err "bad.xyz:2: virial: a virial needs a periodic cell"
# the keys are for extxyz: said so for other formats
expect_status 0 mlip-collate -c 4.0 --energy-key REF_energy -o "$D/m.mlb" share/demo/si-test.json
expect_err "the label keys apply to extxyz input"
