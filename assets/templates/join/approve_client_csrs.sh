# Pending kubelet client CSRs that kubewiz's bootstrap token ({{ user }}) made for a planned
# node (subject system:node:<name> of the cluster file) approved; any other stays pending.
K="{{ kubectl }}"
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
n=0
for csr in $($K get csr -o jsonpath='{range .items[*]}{.metadata.name}{"|"}{.spec.signerName}{"|"}{.spec.username}{"|"}{.status.conditions[*].type}{"\n"}{end}' |
    awk -F'|' '$2 == "kubernetes.io/kube-apiserver-client-kubelet" && $3 == "{{ user }}" && $4 == "" { print $1 }'); do
  have=$($K get csr "$csr" -o jsonpath='{.spec.request}' | base64 -d | sed '/^-----/d' | base64 -d | od -An -v -tx1 | tr -d ' \n')
  for node in {% for n in nodes %}{{ n }} {% endfor %}; do
    if printf '%s' "$have" | grep -q "$(hex "system:node:$node")"; then
      $K certificate approve "$csr" >/dev/null && echo "approved $csr: the client certificate of $node"; n=$((n + 1))
      break
    fi
  done
done
echo "$n pending client CSRs of planned nodes approved"
