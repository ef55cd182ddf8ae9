# Wait for this master's kube-apiserver to be ready (/readyz through the admin certificate),
# then for the controller-manager's and the scheduler's /healthz on their secure ports. Polled
# every half second: the install waits for nothing else at this point.
K="{{ kubectl }}"
start=$(date +%s)
deadline=$(( start + {{ wait_secs }} ))
# An apiserver that exits at every start (a missing flag, a bad certificate) will not become
# ready by waiting: after a few restarts by systemd, stop and let its journal speak.
restarts() { r=$(systemctl show -p NRestarts --value kube-apiserver 2>/dev/null); echo "${r:-0}"; }
r0=$(restarts)
n=0
while :; do
  if out=$($K get --raw /readyz 2>&1 </dev/null) && [ "$out" = ok ]; then
    echo "kube-apiserver /readyz: ok after $(( $(date +%s) - start )) s"
    break
  fi
  now=$(date +%s)
  if [ $(( $(restarts) - r0 )) -ge {{ crash_restarts }} ]; then
    echo "kube-apiserver keeps exiting on this master: systemd restarted it $(( $(restarts) - r0 )) times in $((now - start)) s, so it is not waited for" >&2
    printf '%s\n' "$out" >&2
    exit 1
  fi
  if [ "$now" -ge "$deadline" ]; then
    echo "kube-apiserver is not ready after {{ wait_secs }} s:" >&2
    printf '%s\n' "$out" >&2
    exit 1
  fi
  n=$((n + 1))
  if [ $((n % 20)) = 0 ]; then
    echo "waiting for kube-apiserver ($((deadline - now)) s left): $(printf '%s' "$out" | tail -n 1)"
  fi
  sleep 0.5
done
# /healthz is always allowed, for any client the cluster CA signed.
{% for c in components -%}
while :; do
  if out=$({{ probe }} --server=https://127.0.0.1:{{ c.port }} get --raw /healthz 2>&1 </dev/null) && [ "$out" = ok ]; then
    echo "{{ c.unit }} /healthz: ok"
    break
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "{{ c.unit }} /healthz on port {{ c.port }} is not ok after {{ wait_secs }} s: $out" >&2
    exit 1
  fi
  sleep 0.5
done
{% endfor -%}
report unchanged
