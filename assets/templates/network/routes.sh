# Every peer's flannel subnet must be reachable from here: {% if backend == "host-gw" %}a route through the
# peer's address{% else %}a route over flannel.1 whose gateway's MAC the vxlan FDB sends to the peer's
# address{% endif %}. flannel 0.20.2 can miss a lease taken at the same moment as another; a
# restart lists every lease again.
peers={{ peers | join(" ") | sq }}
route_to() {  # the pod subnet routed to peer address $1, or nothing
{% if backend == "host-gw" -%}
  ip -4 route show root {{ pod_cidr }} | awk -v a="$1" '$2 == "via" && $3 == a { print $1; exit }'
{% else -%}
  mac=$(bridge fdb show dev flannel.1 2>/dev/null | awk -v a="$1" '$2 == "dst" && $3 == a { print $1; exit }')
  [ -n "$mac" ] || return 0
  gw=$(ip neigh show dev flannel.1 2>/dev/null | awk -v m="$mac" '$2 == "lladdr" && $3 == m { print $1; exit }')
  [ -n "$gw" ] || return 0
  ip -4 route show root {{ pod_cidr }} dev flannel.1 | awk -v g="$gw" '$2 == "via" && $3 == g { print $1; exit }'
{% endif -%}
}
# The subnet etcd leases to peer address $1, read where this host can (an etcd member has
# etcdctl and a client certificate); "" elsewhere or when there is none.
can_read_leases() { [ -x /usr/local/bin/etcdctl ] && [ -r {{ etcd_pki }}/healthcheck-client.crt ]; }
lease_of() {
  can_read_leases || return 0
{% if api == "v2" -%}
  for k in $({{ etcdctl }} ls {{ lease_prefix }} 2>/dev/null); do
    if {{ etcdctl }} get "$k" 2>/dev/null | grep -q "\"PublicIP\":\"$1\""; then
      echo "${k##*/}" | sed 's#-#/#'; return 0
    fi
  done
{% else -%}
  {{ etcdctl }} get --prefix {{ lease_prefix }}/ 2>/dev/null |
    awk -v a="\"PublicIP\":\"$1\"" 'index($0, a) { print k; exit } { k = $0 }' | sed 's#.*/##; s#-#/#'
{% endif -%}
}
check() {
  missing=""
  for p in $peers; do
    name=${p%%=*}; addr=${p#*=}
    r=$(route_to "$addr")
    if [ -n "$r" ]; then echo "route to $name ($addr): $r"; continue; fi
    l=$(lease_of "$addr" || true)
    if [ -n "$l" ]; then missing="$missing $name ($addr, leased $l)"
    elif can_read_leases; then missing="$missing $name ($addr, no lease in etcd)"
    else missing="$missing $name ($addr)"; fi
  done
}
check
if [ -z "$missing" ]; then report unchanged; exit 0; fi
echo "no route to the flannel subnet of$missing: restarting {{ unit }} once (it lists every lease at start)"
systemctl restart {{ unit }}
deadline=$(( $(date +%s) + {{ wait_secs }} ))
while :; do
  check >/dev/null
  [ -z "$missing" ] && break
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 1
done
check
if [ -n "$missing" ]; then
  echo "after a restart of {{ unit }} there is still no route to the flannel subnet of$missing (their leases in etcd: {{ lease_prefix }}/)" >&2
  exit 1
fi
report changed
