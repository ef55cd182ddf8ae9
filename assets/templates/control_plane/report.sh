# This master's control plane as the cluster sees it: the apiserver's checks, then one
# `kubewiz-component` line per component (the summary at the end of a run reads them), and on
# the first master where the admin kubeconfig is. Fails when a component is not healthy, after
# every line is printed.
K="{{ kubectl }}"
unhealthy=0
component() {
  echo "kubewiz-component host={{ host }} name=$1 status=$2"
  [ "$2" = ok ] || unhealthy=$((unhealthy + 1))
}
# kubectl quotes a failed request's body on one line, its newlines as \n: one check a line.
checks() { printf '%s\n' "$1" | sed 's/\\n/\n/g'; }
last_line() { printf '%s\n' "$1" | sed '/^[[:space:]]*$/d' | tail -n 1; }
if v=$($K get --raw '/readyz?verbose' 2>&1 </dev/null); then api=ok; else api=; fi
echo "kube-apiserver checks (/readyz?verbose):"
checks "$v" | sed 's/^/  /'
if [ -z "$api" ]; then
  failed=$(checks "$v" | sed -n 's/^\[-\]\([^ ]*\).*/\1/p' | paste -sd, - || true)
  if [ -n "$failed" ]; then api="not ready: failed checks $failed"; else api="not ready: $(last_line "$v")"; fi
fi
component kube-apiserver "$api"
etcd=$(checks "$v" | sed -n 's/^\[[-+]\]etcd \(.*\)$/\1/p' | head -n 1 || true)
case "$etcd" in
  ok) ;;
  "") etcd="unknown: the apiserver did not report its etcd check" ;;
  *) etcd="the apiserver's etcd check $etcd (journalctl -u kube-apiserver says why)" ;;
esac
{% for c in components -%}
if out=$({{ probe }} --server=https://127.0.0.1:{{ c.port }} get --raw /healthz 2>&1 </dev/null) && [ "$out" = ok ]; then
  component {{ c.unit }} ok
else
  component {{ c.unit }} "/healthz on port {{ c.port }}: $(last_line "$out")"
fi
{% endfor -%}
component etcd "$etcd"
{% if first -%}
echo "admin kubeconfig: {{ admin_path }}"
echo "try: kubectl --kubeconfig {{ admin_path }} get --raw /readyz"
{% endif -%}
if [ "$unhealthy" -gt 0 ]; then
  echo "$unhealthy component(s) of this master are not healthy (the kubewiz-component lines above say why)" >&2
  exit 1
fi
report unchanged
