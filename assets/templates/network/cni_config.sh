# containerd on flannel: the CNI network pods join, rendered from this host's lease in
# {{ subnet_env }} (a bridge with host-local addresses from FLANNEL_SUBNET; flanneld masquerades,
# so the bridge does not).
. {{ subnet_env }}
net="${FLANNEL_SUBNET%.*}.0/${FLANNEL_SUBNET#*/}"
conflist='{
  "cniVersion": "0.4.0",
  "name": "flannel",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "isDefaultGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "mtu": '"$FLANNEL_MTU"',
      "ipam": {
        "type": "host-local",
        "subnet": "'"$net"'",
        "routes": [{ "dst": "'"$FLANNEL_NETWORK"'" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}'
loopback='{ "cniVersion": "0.4.0", "name": "lo", "type": "loopback" }'
c=0
mkdir -p {{ conf_dir }}
put() {
  if [ "$(cat "$1" 2>/dev/null)" != "$2" ]; then
    printf '%s\n' "$2" > "$1.kubewiz-new" && mv -f "$1.kubewiz-new" "$1"
    echo "wrote $1"; c=1
  fi
}
put {{ conf_dir }}/{{ conflist }} "$conflist"
put {{ conf_dir }}/{{ loopback }} "$loopback"
echo "pods get $net (mtu $FLANNEL_MTU) on cni0"
if [ $c = 1 ]; then report changed; else report unchanged; fi
