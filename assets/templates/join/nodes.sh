# The cluster's nodes, one machine-readable line each (name, status, version, internal IP,
# runtime, roles from the node-role labels), then as kubectl shows them.
K="{{ kubectl }}"
$K get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.status.conditions[?(@.type=="Ready")].status}{"\t"}{.status.nodeInfo.kubeletVersion}{"\t"}{.status.addresses[?(@.type=="InternalIP")].address}{"\t"}{.status.nodeInfo.containerRuntimeVersion}{"\t"}{.metadata.labels}{"\n"}{end}' |
while IFS="$(printf '\t')" read -r name ready version ip runtime labels; do
  case "$ready" in True) status=Ready ;; *) status=NotReady ;; esac
  roles=$(printf '%s' "$labels" | grep -o '"node-role.kubernetes.io/[^"]*"' | sed -e 's/"//g' -e 's|node-role.kubernetes.io/||' -e 's/^control-plane$/master/' | sort -u | paste -sd, -)
  echo "kubewiz-node name=$name status=$status version=$version internal-ip=${ip%% *} runtime=$runtime roles=${roles:-<none>}"
done
$K get nodes -o wide
report unchanged
