# One host at a time (flannel 0.20.2's etcd watch keeps only the first event of a response, so
# leases taken at the same moment are missed by peers): start or restart flanneld, then wait
# until it holds a lease and wrote {{ subnet_env }}.
{% set marker = restart_marker(unit) -%}
enable_unit {{ unit }}
clean_backend_leftovers() {
{% if backend == "host-gw" -%}
  # A vxlan device from an earlier vxlan config would keep routes over the overlay.
  if ip link show flannel.1 >/dev/null 2>&1; then ip link del flannel.1; echo "removed flannel.1 (backend is host-gw)"; fi
{% else -%}
  # Routes an earlier host-gw config left to the peers' subnets through their addresses.
  ip -4 route show root {{ pod_cidr }} | awk '$2 == "via" && $0 !~ / dev flannel\.1( |$)/ { print $1 }' |
    while read -r r; do ip route del "$r" && echo "removed the host-gw route $r (backend is vxlan)"; done
{% endif -%}
}
if ! systemctl is-active --quiet {{ unit }}; then
  clean_backend_leftovers
  systemctl reset-failed {{ unit }} 2>/dev/null || true
  systemctl start --no-block {{ unit }}
  rm -f {{ marker }}
  echo "{{ unit }} starting"
  what=changed
elif [ -f {{ marker }} ]; then
  systemctl stop {{ unit }}
  clean_backend_leftovers
  systemctl start --no-block {{ unit }}
  rm -f {{ marker }}
  echo "{{ unit }} restarting (its binaries, certificates, unit or network config changed)"
  what=changed
else
  what=unchanged
fi
since=$(date +%s)
deadline=$(( since + {{ wait_secs }} ))
until systemctl is-active --quiet {{ unit }} && [ -s {{ subnet_env }} ]; do
  # The config was written before any host started: a flanneld that still cannot read it
  # after a few seconds will not by waiting (wrong API, prefix or etcd flags): say why now.
  if [ $(( $(date +%s) - since )) -ge {{ config_grace_secs }} ] &&
     why=$(journalctl -u {{ unit }} --since "@$since" -o cat --no-pager 2>/dev/null | grep "Couldn't fetch network config" | tail -n 1) &&
     [ -n "$why" ]; then
    echo "{{ unit }} cannot read its network config from etcd:" >&2
    printf '%s\n' "$why" >&2
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "{{ unit }} has no subnet lease after {{ wait_secs }} s ({{ subnet_env }} $( [ -e {{ subnet_env }} ] && echo present || echo missing), unit $(systemctl is-active {{ unit }}))" >&2
    journalctl -u {{ unit }} -o cat --no-pager -n 8 >&2 || true
    exit 1
  fi
  sleep 1
done
grep -E '^FLANNEL_(NETWORK|SUBNET|MTU)=' {{ subnet_env }} | tr '\n' ' '; echo
report $what
