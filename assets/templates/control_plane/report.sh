# The control plane as the cluster sees it, and how to reach it from this machine.
K="{{ kubectl }}"
echo "kube-apiserver checks (/readyz?verbose):"
$K get --raw '/readyz?verbose' | sed 's/^/  /'
echo "admin kubeconfig: {{ admin_path }}"
echo "try: kubectl --kubeconfig {{ admin_path }} get --raw /readyz"
report unchanged
