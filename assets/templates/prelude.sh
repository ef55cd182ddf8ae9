# kubewiz step prelude: every step script starts with this.
# A step prints its result as its last word: `report changed|unchanged|na <why>`.
set -eu
report() { echo "KUBEWIZ-RESULT $*"; }
has() { command -v "$1" >/dev/null 2>&1; }
has_unit() { has systemctl && systemctl cat "$1" >/dev/null 2>&1; }
