# kubeadm's upload-config: the cluster file this cluster was made from, without its login
# settings (auth), as ConfigMap kube-system/{{ name }}.
K="{{ kubectl }}"
m=$(mktemp)
trap 'rm -f "$m"' EXIT
cat >"$m" <<'KUBEWIZ_CONFIG'
{{ manifest }}KUBEWIZ_CONFIG
out=$($K apply -f "$m" 2>&1) || { printf '%s\n' "$out" >&2; exit 1; }
printf '%s\n' "$out"
case "$out" in *" unchanged") report unchanged ;; *) report changed ;; esac
