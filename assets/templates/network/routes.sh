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
check() {
  missing=""
  for p in $peers; do
    name=${p%%=*}; addr=${p#*=}
    r=$(route_to "$addr")
    if [ -n "$r" ]; then echo "route to $name ($addr): $r"; else missing="$missing $name ($addr)"; fi
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
