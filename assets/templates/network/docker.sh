# docker on flannel: a drop-in gives dockerd flannel's --bip/--mtu/--ip-masq (from
# {{ docker_env }}, written by mk-docker-opts.sh after flanneld started) and orders it after
# flanneld. These options live only here (never in daemon.json: one place per option).
dropin={{ dropin }}
if ! has_unit docker.service; then
  echo "docker.service is not installed on this host (runtime: docker)" >&2; exit 1
fi
if [ ! -s {{ docker_env }} ]; then
  echo "{{ docker_env }} is missing: flanneld's ExecStartPost (mk-docker-opts.sh) did not write it" >&2; exit 1
fi
# The packaged unit's own ExecStart (its other arguments kept), plus flannel's options.
frag=$(systemctl show -p FragmentPath --value docker.service)
exec=$(grep -E '^ExecStart=.+' "$frag" | tail -n 1 | sed 's/^ExecStart=//')
if [ -z "$exec" ]; then echo "no ExecStart= in $frag" >&2; exit 1; fi
case "$exec" in *DOCKER_NETWORK_OPTIONS*) ;; *) exec="$exec \$DOCKER_NETWORK_OPTIONS" ;; esac
want="# Written by kubewiz for cluster {{ cluster }}: docker on flannel's subnet.
[Unit]
# Wants, not Requires: a flanneld restart must not stop docker and every container.
After={{ flannel_unit }}.service
Wants={{ flannel_unit }}.service

[Service]
EnvironmentFile={{ docker_env }}
ExecStart=
ExecStart=$exec"
c=0
if [ "$(cat "$dropin" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$(dirname "$dropin")"
  printf '%s\n' "$want" > "$dropin.kubewiz-new" && mv -f "$dropin.kubewiz-new" "$dropin"
  systemctl daemon-reload
  echo "wrote $dropin"
  c=1
fi
. {{ subnet_env }}
# The address docker0 has and the MTU docker gives containers on it (its bridge network's
# option: docker 20.10 sets it on the containers' veths, not on the bridge).
bridge_state() {
  addr=$(ip -4 -o addr show docker0 2>/dev/null | awk '{ print $4; exit }')
  mtu=$(docker network inspect bridge -f '{{ "{{" }}index .Options "com.docker.network.driver.mtu"{{ "}}" }}' 2>/dev/null || true)
}
bridge_state
enable_unit docker.service
if [ $c = 1 ] || ! systemctl is-active --quiet docker.service || [ "$addr" != "$FLANNEL_SUBNET" ] || [ "$mtu" != "$FLANNEL_MTU" ]; then
  echo "restarting docker (docker0 ${addr:-none} mtu ${mtu:-none}; flannel leased $FLANNEL_SUBNET mtu $FLANNEL_MTU)"
  systemctl stop docker.service docker.socket 2>/dev/null || true
  # A docker0 left with another address makes dockerd fail to allocate its gateway.
  if [ -n "$addr" ] && [ "$addr" != "$FLANNEL_SUBNET" ]; then ip link del docker0; fi
  systemctl start docker.service
  c=1
  deadline=$(( $(date +%s) + 30 ))
  while bridge_state; [ -z "$addr" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
fi
# A bridge without ports keeps 1500: the host's own packets to containers must fit the overlay
# too (and catalog F9 reads the bridge's MTU).
link_mtu=$(cat /sys/class/net/docker0/mtu 2>/dev/null || echo 0)
if [ "$link_mtu" -gt "$FLANNEL_MTU" ] 2>/dev/null; then
  ip link set docker0 mtu "$FLANNEL_MTU" && echo "docker0 link mtu $link_mtu -> $FLANNEL_MTU"
  c=1
fi
if [ "$addr" != "$FLANNEL_SUBNET" ] || [ "$mtu" != "$FLANNEL_MTU" ]; then
  echo "docker0 has ${addr:-no address} and docker's bridge network mtu ${mtu:-none}, but flannel leased FLANNEL_SUBNET=$FLANNEL_SUBNET FLANNEL_MTU=$FLANNEL_MTU" >&2
  exit 1
fi
echo "docker0 $addr mtu $mtu (FLANNEL_SUBNET $FLANNEL_SUBNET, FLANNEL_MTU $FLANNEL_MTU)"
if [ $c = 1 ]; then report changed; else report unchanged; fi
