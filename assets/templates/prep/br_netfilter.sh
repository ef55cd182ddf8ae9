conf=/etc/modules-load.d/kubewiz-br_netfilter.conf
c=0
if [ "$(cat $conf 2>/dev/null)" != br_netfilter ]; then
  mkdir -p /etc/modules-load.d
  echo br_netfilter > $conf
  echo "br_netfilter will load at boot ($conf)"; c=1
fi
if [ ! -d /proc/sys/net/bridge ]; then
  if out=$(modprobe br_netfilter 2>&1); then
    echo "br_netfilter loaded"; c=1
  else
    echo "br_netfilter is not loaded and cannot be loaded here: $out" >&2
    echo "load it on the kernel that runs this host (modprobe br_netfilter), then retry" >&2
    exit 1
  fi
fi
if [ $c = 1 ]; then report changed; else report unchanged; fi
