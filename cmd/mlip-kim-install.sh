#!/bin/sh
# mlip-kim-install - a trained mlip model (model.mlip) as a KIM portable
# model, so that LAMMPS (`kim init NAME metal`) and other KIM simulators run
# it. Installs the KIM model driver mlip_model_driver first when it is
# missing or stale (built against the libmlip found beside this program),
# then the model item (the driver plus model.mlip as its parameter file),
# both through kim-api-collections-management. See mlip-kim-install(1).
#
# Exit statuses as every mlip program: 2 usage, 3 bad model, 4 I/O or
# system (KIM tools or libmlip missing, a build that failed).
set -u

prog=mlip-kim-install
version='@VERSION@'
driver=mlip_model_driver

usage() {
	cat <<EOF
usage: mlip-kim-install [OPTIONS] MODEL [NAME]
   or: mlip-kim-install [-q] --remove NAME

Install the trained model MODEL (an inference checkpoint, model.mlip) as the KIM
portable model NAME, with the KIM model driver $driver, which is built
against libmlip when it is missing or out of date. LAMMPS then runs it with
'kim init NAME metal' and 'kim interactions SPECIES...'.

  -c, --collection WHICH  user (default), environment or system
      --head NAME         evaluate this head of a multi-head model (default: the first)
      --name NAME         the KIM name of the model (same as the NAME operand)
      --remove NAME       remove the portable model NAME installed by this program
  -v, --verbose           show the output of the KIM tools
  -q, --quiet             no information on stderr, only errors
  -h, --help              show this help and exit
  -V, --version           show the version and exit
EOF
}

say() { [ "$quiet" = 1 ] || printf '%s: %s\n' "$prog" "$*" >&2; }
# fail STATUS MESSAGE...
fail() {
	st=$1; shift
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit "$st"
}
usage_error() {
	printf '%s: %s\ntry '\''%s --help'\''\n' "$prog" "$*" "$prog" >&2
	exit 2
}

collection=user head='' name='' remove='' quiet=0 verbose=0 model=''
need_arg() { [ $# -ge 2 ] || usage_error "option '$1' needs an argument"; }
nops=0
while [ $# -gt 0 ]; do
	case $1 in
	-h|--help) usage; exit 0 ;;
	-V|--version) echo "$prog (mlip) $version"; exit 0 ;;
	-q|--quiet) quiet=1 ;;
	-v|--verbose) verbose=1 ;;
	-c|--collection) need_arg "$@"; collection=$2; shift ;;
	--collection=*) collection=${1#*=} ;;
	--head) need_arg "$@"; head=$2; shift ;;
	--head=*) head=${1#*=} ;;
	--name) need_arg "$@"; name=$2; shift ;;
	--name=*) name=${1#*=} ;;
	--remove) need_arg "$@"; remove=$2; shift ;;
	--remove=*) remove=${1#*=} ;;
	--) shift; break ;;
	-?*) usage_error "unknown option '$1'" ;;
	*)
		nops=$((nops + 1))
		if [ $nops = 1 ]; then model=$1
		elif [ $nops = 2 ]; then op_name=$1
		else usage_error "unexpected argument '$1'"
		fi ;;
	esac
	shift
done
for a in "$@"; do
	nops=$((nops + 1))
	if [ $nops = 1 ]; then model=$a
	elif [ $nops = 2 ]; then op_name=$a
	else usage_error "unexpected argument '$a'"
	fi
done
if [ $nops -ge 2 ]; then
	[ -z "$name" ] || [ "$name" = "$op_name" ] ||
		usage_error "two names: '$op_name' and --name '$name'"
	name=$op_name
fi

case $collection in
user|environment|system) ;;
*) usage_error "--collection must be user, environment or system, not '$collection'" ;;
esac

# KIM item names are C identifiers; the driver's name is taken.
check_name() {
	case $1 in
	''|[0-9]*|*[!A-Za-z0-9_]*)
		usage_error "'$1' is not a valid KIM name (letters, digits and '_', not starting with a digit)" ;;
	"$driver") usage_error "'$1' is the name of the driver; choose another" ;;
	esac
}

# --- the KIM tools ---------------------------------------------------------
kcm=$(command -v kim-api-collections-management) ||
	fail 4 "kim-api-collections-management not found: install the KIM API (Debian: apt-get install libkim-api-dev)"
kci=$(dirname -- "$(readlink -f -- "$kcm")")/../libexec/kim-api/kim-api-collections-info
[ -x "$kci" ] ||
	fail 4 "kim-api-collections-info not found beside $kcm: the KIM API installation is incomplete (Debian: apt-get install libkim-api-dev)"

# The KIM tools run in $tmp: the KIM API writes its kim.log into the
# current directory, which is the user's.
# find_item KIND NAME: "collection name dir" of an installed item, or nothing
find_item() { (cd "$tmp" && "$kci" "$1" find "$2" 2>/dev/null); }

# Whether an item was installed by this program: its embedded metadata.
is_ours() { (cd "$tmp" && "$kci" metadata "$1" 2>/dev/null) | grep -q '=== mlip-model.txt ==='; }

# run_kcm ARGS...: kim-api-collections-management, its chatter in a log shown
# on failure (or always with --verbose)
run_kcm() {
	if [ "$verbose" = 1 ]; then
		(cd "$tmp" && "$kcm" "$@") >&2
	else
		(cd "$tmp" && "$kcm" "$@") > "$tmp/kcm.log" 2>&1 || { cat "$tmp/kcm.log" >&2; return 1; }
	fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mlip-kim-install.XXXXXX") || fail 4 "cannot create a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

if [ -n "$remove" ]; then
	[ $nops = 0 ] || usage_error "--remove takes no MODEL"
	check_name "$remove"
	[ -n "$(find_item portable_models "$remove")" ] ||
		fail 2 "no KIM portable model '$remove' is installed"
	is_ours "$remove" ||
		fail 2 "'$remove' was not installed by $prog; remove it with: kim-api-collections-management remove $remove"
	run_kcm remove --force "$remove" || fail 4 "kim-api-collections-management could not remove '$remove'"
	[ -z "$(find_item portable_models "$remove")" ] || fail 4 "'$remove' is still installed"
	say "removed the KIM portable model '$remove'"
	exit 0
fi

[ $nops -ge 1 ] || usage_error "no MODEL given"
[ -n "$name" ] || usage_error "no NAME given for the KIM model"
check_name "$name"
if [ "$collection" = environment ]; then
	[ -n "${KIM_API_MODEL_DRIVERS_DIR:-}" ] && [ -n "${KIM_API_PORTABLE_MODELS_DIR:-}" ] ||
		usage_error "the environment collection needs KIM_API_MODEL_DRIVERS_DIR and KIM_API_PORTABLE_MODELS_DIR"
fi
[ -e "$model" ] || fail 4 "cannot open '$model': No such file or directory"
[ -f "$model" ] || fail 3 "'$model' is not a file (a training run directory? mlip-ckpt-convert makes a model)"
[ -r "$model" ] || fail 4 "cannot read '$model': Permission denied"

command -v cmake >/dev/null 2>&1 || fail 4 "cmake not found; KIM items are built with it (Debian: apt-get install cmake)"
cc=${CC:-cc}
command -v "$cc" >/dev/null 2>&1 || fail 4 "no C compiler ('$cc'): install gcc"
command -v c++ >/dev/null 2>&1 || fail 4 "no C++ compiler (c++): KIM's item wrapper is C++; install g++"
command -v wget >/dev/null 2>&1 || command -v curl >/dev/null 2>&1 ||
	fail 4 "kim-api-collections-management refuses to run without wget or curl: install one"

# --- libmlip: beside this program (source tree or prefix), else pkg-config --
self=$(readlink -f -- "$0" 2>/dev/null) || self=$0
top=$(cd "$(dirname -- "$self")/.." && pwd -P) || fail 4 "cannot find the directory of $0"
inc='' libdir='' share=''
if [ -f "$top/lib/mlip.h" ] && [ -f "$top/share/kim/mlip_driver/mlip_kim_driver.c" ]; then
	# the source tree
	[ -e "$top/lib/libmlip.so" ] || fail 4 "$top/lib/libmlip.so is not built: run 'make shlib' in $top"
	inc=$top/lib libdir=$top/lib share=$top/share/kim
elif [ -f "$top/include/mlip.h" ] && [ -e "$top/lib/libmlip.so" ]; then
	inc=$top/include libdir=$top/lib share=$top/share/mlip/kim
elif pkg-config --exists mlip 2>/dev/null; then
	inc=$(pkg-config --variable=includedir mlip) libdir=$(pkg-config --variable=libdir mlip)
	share=$(dirname -- "$libdir")/share/mlip/kim
	[ -d "$share" ] || share=$top/share/mlip/kim
fi
[ -n "$inc" ] && [ -f "$inc/mlip.h" ] && [ -e "$libdir/libmlip.so" ] ||
	fail 4 "libmlip not found: neither $top/lib nor $top/include with $top/lib hold mlip.h and libmlip.so, and pkg-config knows no 'mlip' (make shlib, or make install, builds it)"
[ -f "$share/mlip_driver/mlip_kim_driver.c" ] && [ -f "$share/model-check.c" ] ||
	fail 4 "the driver sources are not in $share (mlip_driver/, model-check.c)"

# --- the model, checked by libmlip itself ------------------------------------
"$cc" -std=c11 -O1 -I"$inc" -o "$tmp/model-check" "$share/model-check.c" \
	-L"$libdir" -lmlip -Wl,-rpath,"$libdir" 2> "$tmp/cc.log" ||
	{ cat "$tmp/cc.log" >&2; fail 4 "cannot build a program against libmlip in $libdir"; }
if [ -n "$head" ]; then
	"$tmp/model-check" "$model" "$head" > "$tmp/info" 2> "$tmp/check.err"
else
	"$tmp/model-check" "$model" > "$tmp/info" 2> "$tmp/check.err"
fi
st=$?
case $st in
0) ;;
2|3|4) fail $st "$(cat "$tmp/check.err")" ;;
*) fail 4 "the model check against $libdir/libmlip.so failed (status $st): $(cat "$tmp/check.err")" ;;
esac
info() { sed -n "s/^$1 //p" "$tmp/info"; }
cutoff=$(info cutoff) elements=$(info elements) heads=$(info heads) head_used=$(info head)
mlip_version=$(info version)

# --- the driver: installed unless an identical build is there ---------------
# Its fingerprint: the driver sources and the libmlip its RPATH points at.
src_sum=$(cat "$share/mlip_driver/CMakeLists.txt" "$share/mlip_driver/mlip_kim_driver.c" |
	sha256sum | cut -d' ' -f1)
stamp1="$driver sources sha256 $src_sum"
stamp2="libmlip $libdir/libmlip.so.1 (mlip $mlip_version, headers $inc)"
if [ -n "$(find_item model_drivers "$driver")" ] &&
	(cd "$tmp" && "$kci" metadata "$driver" 2>/dev/null) > "$tmp/driver.meta" &&
	grep -qxF "$stamp1" "$tmp/driver.meta" && grep -qxF "$stamp2" "$tmp/driver.meta"; then
	say "driver $driver is up to date"
else
	mkdir "$tmp/driver" && cp "$share/mlip_driver/CMakeLists.txt" "$share/mlip_driver/mlip_kim_driver.c" "$tmp/driver/" ||
		fail 4 "cannot copy the driver sources"
	printf 'set(MLIP_INCLUDE_DIR "%s")\nset(MLIP_LIBRARY_DIR "%s")\n' "$inc" "$libdir" > "$tmp/driver/mlip-location.cmake"
	printf '%s\n%s\n' "$stamp1" "$stamp2" > "$tmp/driver/mlip-driver-build.txt"
	say "building and installing the driver $driver (libmlip in $libdir)"
	run_kcm install --force "$collection" "$tmp/driver" ||
		fail 4 "kim-api-collections-management could not build or install the driver $driver"
	[ -n "$(find_item model_drivers "$driver")" ] || fail 4 "the driver $driver is not installed after all"
fi

# --- the model item ----------------------------------------------------------
item=$tmp/model
mkdir "$item" && cp "$model" "$item/model.mlip" || fail 4 "cannot copy '$model'"
params='"model.mlip"'
if [ -n "$head" ]; then
	printf '%s\n' "$head" > "$item/head.txt"
	params='"model.mlip" "head.txt"'
fi
model_abs=$(readlink -f -- "$model")
{
	echo "model $model_abs"
	echo "sha256 $(sha256sum < "$model" | cut -d' ' -f1)"
	echo "head $head_used"
	echo "elements $elements"
	echo "cutoff $cutoff"
	echo "installed by $prog (mlip) $version"
} > "$item/mlip-model.txt"
cat > "$item/CMakeLists.txt" <<EOF
# KIM portable model $name: $model_abs through the driver $driver
# (written by $prog).
cmake_minimum_required(VERSION 3.10)
list(APPEND CMAKE_PREFIX_PATH \$ENV{KIM_API_CMAKE_PREFIX_DIR})
find_package(KIM-API-ITEMS 2.2 REQUIRED CONFIG)
kim_api_items_setup_before_project(ITEM_TYPE "portableModel")
project($name)
kim_api_items_setup_after_project(ITEM_TYPE "portableModel")
add_kim_api_model_library(
  NAME "$name"
  DRIVER_NAME "$driver"
  PARAMETER_FILES $params
  METADATA_FILES "mlip-model.txt"
  )
EOF
existing=$(find_item portable_models "$name")
if [ -n "$existing" ] && ! is_ours "$name"; then
	fail 2 "a KIM portable model '$name' not installed by $prog exists ($existing); choose another name"
fi
say "installing the KIM portable model $name ($collection collection)"
run_kcm install --force "$collection" "$item" ||
	fail 4 "kim-api-collections-management could not build or install the model $name"
where=$(find_item portable_models "$name")
[ -n "$where" ] || fail 4 "the model $name is not installed after all"
say "installed $name: species $elements, cutoff $cutoff Å, head $head_used (heads: $heads); in LAMMPS (units metal):"
say "  kim init $name metal"
say "  kim interactions $elements"
exit 0
