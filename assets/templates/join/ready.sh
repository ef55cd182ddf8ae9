# This node Ready within {{ wait_secs }} s, and kubeadm's kubelet-finalize: kubelet has its
# client certificate from the cluster (TLS bootstrap) and {{ kubeconfig }} uses the rotated
# one, {{ client_cert }}; its serving certificate was issued ({{ server_cert }}).
K="/usr/local/bin/kubectl --kubeconfig={{ kubeconfig }} --request-timeout=10s"
start=$(date +%s)
deadline=$(( start + {{ wait_secs }} ))
state=""
# kubelet exiting again and again (a refused bootstrap, a misconfiguration) will not get Ready:
# fail early with its own last words instead of waiting out the time.
restarts() { systemctl show kubelet -p NRestarts --value 2>/dev/null || echo 0; }
restarts0=$(restarts)
while :; do
  if [ -s {{ kubeconfig }} ] && [ -s {{ client_cert }} ]; then
    state=$($K get node {{ name }} -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}' 2>&1 </dev/null) || true
    case "$state" in True\ *) [ -s {{ server_cert }} ] && break ;; esac
  else
    state="kubelet has no client certificate yet ({{ kubeconfig }} or {{ client_cert }} missing: TLS bootstrap has not finished)"
  fi
  if [ $(( $(restarts) - ${restarts0:-0} )) -ge 3 ]; then
    echo "kubelet exited 3 times while node {{ name }} waited to be Ready; its last error:" >&2
    journalctl -u kubelet -o cat --no-pager -n 200 2>/dev/null | grep -E '^[EF][0-9]{4} ' | tail -n 2 >&2
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    case "$state" in
      True\ *) echo "node {{ name }} is Ready but has no serving certificate ({{ server_cert }}) after {{ wait_secs }} s: its kubelet-serving CSR is not approved" >&2 ;;
      *) echo "node {{ name }} is not Ready after {{ wait_secs }} s: $state" >&2 ;;
    esac
    systemctl is-active kubelet >&2 || true
    exit 1
  fi
  sleep 1
done
echo "node {{ name }} Ready after $(( $(date +%s) - start )) s"
# kubelet-finalize: the kubeconfig kubelet wrote after bootstrap must name the rotated pair.
for k in client-certificate client-key; do
  if ! grep -qx "    $k: {{ client_cert }}" {{ kubeconfig }}; then
    echo "{{ kubeconfig }} does not use the rotated client certificate {{ client_cert }} ($k): $(grep "$k" {{ kubeconfig }} | sed 's/-data:.*/-data: (embedded)/')" >&2
    exit 1
  fi
done
echo "{{ kubeconfig }} uses the rotated client certificate {{ client_cert }}"
report unchanged
