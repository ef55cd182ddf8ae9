# The kubelets' serving certificates (serverTLSBootstrap): a pending kubernetes.io/kubelet-serving
# CSR is approved only when a planned node asks for itself (user system:node:<name>) with
# exactly the name and address the cluster file gives it; anything else stays pending and is
# reported. Done when every planned node's kubelet serves (the API server reaches it through
# /healthz, as `kubectl logs` does), within {{ wait_secs }} s. Client certificates are the
# controller-manager's to approve (kubewiz's bindings of the control plane stage).
K="{{ kubectl }}"
deadline=$(( $(date +%s) + {{ wait_secs }} ))
# planned name, then the subjectAltName extension it must ask for (DER, hex)
planned='{% for n in nodes %}{{ n.name }} {{ n.san }}
{% endfor %}'
want_for() { printf '%s' "$planned" | awk -v n="$1" '$1 == n { print $2; exit }'; }
refused=$(mktemp)
approved=$(mktemp)
trap 'rm -f "$refused" "$approved"' EXIT
refuse() {
  grep -q "^$1 " "$refused" || echo "$1 $2 $3" >>"$refused"
}
approve_pending() {
  $K get csr -o jsonpath='{range .items[*]}{.metadata.name}{"|"}{.spec.signerName}{"|"}{.spec.username}{"|"}{.status.conditions[*].type}{"\n"}{end}' 2>/dev/null |
  while IFS='|' read -r csr signer user state; do
    [ "$signer" = kubernetes.io/kubelet-serving ] && [ -z "$state" ] || continue
    grep -q "^$csr " "$refused" && continue
    node=${user#system:node:}
    want=$(want_for "$node")
    if [ "$user" = "$node" ] || [ -z "$want" ]; then
      refuse "$csr" "$user" "is not a planned node (system:node:<name> of the cluster file)"; continue
    fi
    have=$($K get csr "$csr" -o jsonpath='{.spec.request}' | base64 -d | sed '/^-----/d' | base64 -d | od -An -v -tx1 | tr -d ' \n')
    if [ "$(printf '%s' "$have" | grep -o {{ san_oid }} | wc -l)" != 1 ] || ! printf '%s' "$have" | grep -q "$want"; then
      refuse "$csr" "$user" "asks for other names or addresses than $node's in the cluster file"; continue
    fi
    $K certificate approve "$csr" >/dev/null
    echo "approved $csr: the serving certificate of $node"
    echo "$csr" >>"$approved"
  done
}
while :; do
  approve_pending
  waiting=""
  for n in {% for n in nodes %}{{ n.name }} {% endfor %}; do
    out=$($K get --raw "/api/v1/nodes/$n/proxy/healthz" 2>&1 </dev/null) && [ "$out" = ok ] || waiting="$waiting $n"
  done
  [ -z "$waiting" ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "kubelets not serving after {{ wait_secs }} s:$waiting (their serving certificates are not approved or not issued)" >&2
    while read -r csr user why; do echo "left pending: $csr from $user: $why" >&2; done <"$refused"
    exit 1
  fi
  sleep 1
done
echo "every planned kubelet serves with its certificate:{% for n in nodes %} {{ n.name }}{% endfor %}"
while read -r csr user why; do echo "left pending: $csr from $user: $why"; done <"$refused"
if [ -s "$approved" ]; then report changed; else report unchanged; fi
