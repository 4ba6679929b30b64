# Dynamics in LAMMPS through KIM: NVE of 64-atom diamond Si started at
# 2000 K (about 1000 K once equipartitioned) for 1 ps with a 1 fs step
# conserves the total energy (drift of a fitted line below 1e-4 eV/atom/ps,
# on one rank and on two); `minimize` converges on the force tolerance; a
# `fix box/relax iso 0.0` minimisation ends at zero pressure near the
# experimental lattice constant; and `units real` (kcal/mol) gives the same
# physics through the driver's unit conversion.
. tests/cli/lib.sh
. tests/kim/kim.sh
kim_setup
D="$TMPD"
si_model "$D"
M="$D/run/inference_ckpt.mlip"
mlip-kim-install -q -c environment "$M" mlip_si || die "mlip-kim-install failed"

cat > "$D/nve.in" <<'LMP'
kim init mlip_si metal
atom_style atomic
boundary p p p
lattice diamond 5.431
region box block 0 2 0 2 0 2
create_box 1 box
create_atoms 1 box
mass 1 28.0855
kim interactions Si
velocity all create 2000.0 4928459 mom yes rot yes dist gaussian
timestep 0.001
fix 1 all nve
thermo 10
thermo_style custom step time temp pe ke etotal press
thermo_modify norm no format float %.17g
run 1000
LMP
lmp_run nve.log -in nve.in
( cd "$D" && $LMP_MPIEXEC -np 2 lmp -screen none -log nve2.log -in nve.in ) > "$D/mpi.out" 2>&1 ||
	{ cat "$D/mpi.out" >&2; die "2-rank NVE failed"; }
for log in nve.log nve2.log; do
	$PY - "$D/$log" <<'PYEOF' || die "$log: energy is not conserved"
import sys
import numpy as np
rows, head = [], None
for line in open(sys.argv[1]):
    w = line.split()
    if w and w[0] == "Step":
        head = w
        continue
    if head and len(w) == len(head):
        try:
            rows.append(dict(zip(head, map(float, w))))
        except ValueError:
            head = None
t = np.array([r["Time"] for r in rows])
e = np.array([r["TotEng"] for r in rows]) / 64
temp = np.array([r["Temp"] for r in rows])
assert len(rows) == 101 and abs(t[-1] - 1.0) < 1e-12, (len(rows), t[-1])
slope = np.polyfit(t, e, 1)[0]
print("%s: <T> %.0f K, drift %.2e eV/atom/ps, total energy spread %.2e eV/atom"
      % (sys.argv[1].split("/")[-1], temp[10:].mean(), slope, e.max() - e.min()))
assert 700 < temp[10:].mean() < 1300, temp.mean()     # it really is hot
assert np.all(np.isfinite(e))
assert abs(slope) < 1e-4, slope
assert e.max() - e.min() < 1e-3, e.max() - e.min()
PYEOF
done
# the two runs start alike (same atoms, velocities and forces); chaos
# separates them later
$PY - "$D/nve.log" "$D/nve2.log" <<'PYEOF' || die "NVE on 2 ranks starts differently"
import sys
sys.path.insert(0, "tests/kim")
import lmp
def first(path):
    for line in open(path):
        w = line.split()
        if len(w) == 7 and w[0] == "0":
            return [float(x) for x in w]
a, b = first(sys.argv[1]), first(sys.argv[2])
assert all(abs(x - y) <= 1e-10 * max(abs(x), 1e-6) for x, y in zip(a, b)), (a, b)
PYEOF

# minimisation of a rattled, expanded cell: atoms, then atoms and volume
cat > "$D/min.in" <<'LMP'
kim init mlip_si metal
atom_style atomic
boundary p p p
lattice diamond 5.50
region box block 0 2 0 2 0 2
create_box 1 box
create_atoms 1 box
mass 1 28.0855
kim interactions Si
displace_atoms all random 0.1 0.1 0.1 8731
thermo_style custom step pe fmax fnorm press vol lx
thermo_modify norm no format float %.17g
min_style cg
log min1.log
minimize 0 1e-10 2000 100000
fix br all box/relax iso 0.0 vmax 0.001
log min2.log
minimize 0 1e-10 5000 100000
LMP
lmp_run min.log -in min.in
for log in min1.log min2.log; do
	grep -q "Stopping criterion = force tolerance" "$D/$log" ||
		die "$log: minimize did not converge: $(grep 'Stopping criterion' "$D/$log")"
done
$PY - "$D/min1.log" "$D/min2.log" <<'PYEOF' || die "minimisation results"
import sys
sys.path.insert(0, "tests/kim")
import lmp
a, b = lmp.thermo(sys.argv[1]), lmp.thermo(sys.argv[2])
print("atoms only: E %.6f eV, fmax %.2e eV/A, P %.1f bar" % (a["PotEng"], a["Fmax"], a["Press"]))
print("with the cell: E %.6f eV, fmax %.2e eV/A, P %.2e bar, a = %.4f A" %
      (b["PotEng"], b["Fmax"], b["Press"], b["Lx"] / 2))
assert a["Fmax"] < 1e-8 and b["Fmax"] < 1e-8
assert abs(a["Press"]) > 1000          # the expanded cell is under tension
assert abs(b["Press"]) < 1.0           # and relaxed to zero pressure
assert b["PotEng"] < a["PotEng"]
assert 5.35 < b["Lx"] / 2 < 5.55, b["Lx"] / 2
PYEOF

# units real: kcal/mol and atm; positions stay in Å
for u in metal real; do
	cat > "$D/$u.in" <<LMP
kim init mlip_si $u
atom_style atomic
boundary p p p
lattice diamond 5.50
region box block 0 2 0 2 0 2
create_box 1 box
create_atoms 1 box
mass 1 28.0855
kim interactions Si
displace_atoms all random 0.1 0.1 0.1 8731
thermo_style custom step pe press
thermo_modify norm no format float %.17g
run 0
write_dump all custom $u.dump id fx fy fz modify format float %.17g sort id
LMP
	lmp_run "$u.log" -in "$u.in"
done
$PY - "$D/metal.log" "$D/real.log" "$D/metal.dump" "$D/real.dump" <<'PYEOF' || die "units real differ"
import sys
sys.path.insert(0, "tests/kim")
import lmp
import numpy as np
m, r = lmp.thermo(sys.argv[1]), lmp.thermo(sys.argv[2])
fm, fr = lmp.read_dump(sys.argv[3]), lmp.read_dump(sys.argv[4])
k = r["PotEng"] / m["PotEng"]
print("kcal/mol per eV %.9f, force ratio spread %.1e, pressure atm/bar %.6f" %
      (k, np.abs(fr - k * fm).max() / np.abs(k * fm).max(), r["Press"] / m["Press"]))
assert abs(k - 23.0605) < 1e-3, k
assert np.abs(fm).max() > 0.1          # a rattled cell: real forces to compare
assert np.abs(fr - k * fm).max() <= 1e-10 * np.abs(k * fm).max()
assert abs(r["Press"] / m["Press"] - 1 / 1.01325) < 1e-5
PYEOF
exit 0
