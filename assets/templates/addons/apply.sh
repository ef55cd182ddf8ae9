# {{ what }}: every object of {{ path }} created, configured or unchanged (kubectl apply).
K="{{ kubectl }}"
if ! out=$($K apply -f {{ path }} 2>&1); then
  printf '%s\n' "$out" >&2; exit 1
fi
printf '%s\n' "$out"
if printf '%s\n' "$out" | grep -qv ' unchanged$'; then report changed; else report unchanged; fi
