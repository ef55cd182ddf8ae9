# kubewiz step prelude: every step script starts with this.
# A step prints its result as its last word: `report changed|unchanged|na <why>`.
set -eu
report() { echo "KUBEWIZ-RESULT $*"; }
has() { command -v "$1" >/dev/null 2>&1; }
has_unit() { has systemctl && systemctl cat "$1" >/dev/null 2>&1; }
# `systemctl enable` reloads systemd's whole configuration even for an enabled unit (up to a
# second on a busy host): asked only when the unit is not enabled yet.
enable_unit() { systemctl is-enabled --quiet "$1" 2>/dev/null || systemctl enable --quiet "$1"; }
