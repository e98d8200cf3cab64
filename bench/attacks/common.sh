# Sourced by the attack scripts: BIN, W, M (measure.py), LIB (attacklib.py), a site key pair,
# and reg_start DIR (a docker-registry on 127.0.0.1: sets REG and REGPID).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=$(realpath "${BIN:-$HERE/../../target/release/bundle}")
W=${W:-/tmp/attacks}; export W
mkdir -p "$W"
M="python3 $HERE/measure.py"
LIB=$HERE/attacklib.py
export PYTHONPATH=$HERE
[ -e "$W/site.key" ] || "$BIN" keygen --out "$W/site" > /dev/null
[ -e "$W/other.key" ] || "$BIN" keygen --out "$W/other" > /dev/null
reg_start() { read -r REG REGPID < <(python3 "$LIB" registry "$1"); }
plain_list() { # FILE REF...: an image list with plain-http for the registry of the first REF
  local f=$1 r; shift
  { echo "images:"; for r in "$@"; do echo "  - $r"; done
    echo "registries:"; echo "  ${1%%/*}:"; echo "    plain-http: true"; } > "$f"
}
