# The bindings kubewiz's cluster needs, applied with kubectl (created, configured or unchanged
# per object).
K="{{ kubectl }}"
m=$(mktemp)
trap 'rm -f "$m"' EXIT
cat >"$m" <<'KUBEWIZ_RBAC'
{{ manifest }}
KUBEWIZ_RBAC
if ! out=$($K apply -f "$m" 2>&1); then
  printf '%s\n' "$out" >&2; exit 1
fi
printf '%s\n' "$out"
if printf '%s\n' "$out" | grep -qv ' unchanged$'; then report changed; else report unchanged; fi
