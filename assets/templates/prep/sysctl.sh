conf=/etc/sysctl.d/99-kubernetes.conf
want=$(cat <<'CONF'
{% for s in sysctls %}{{ s.key }} = {{ s.value }}
{% endfor %}CONF
)
c=0
if [ "$(cat $conf 2>/dev/null)" != "$want" ]; then
  mkdir -p /etc/sysctl.d
  printf '%s\n' "$want" > $conf.kubewiz-tmp && mv -f $conf.kubewiz-tmp $conf
  echo "persisted in $conf"; c=1
fi
bad=""
for kv in {% for s in sysctls %}{{ s.key }}={{ s.value }} {% endfor %}; do
  k=${kv%=*}; v=${kv#*=}
  cur=$(cat "/proc/sys/$(echo "$k" | tr . /)" 2>/dev/null || echo missing)
  [ "$cur" = "$v" ] && continue
  if sysctl -w "$k=$v" >/dev/null 2>&1; then
    echo "$k set to $v"; c=1
  else
    bad="$bad $k (is $cur, needs $v)"
  fi
done
if [ -n "$bad" ]; then
  echo "cannot apply:$bad" >&2
  echo "/proc/sys is read-only here (a container?) or the key is missing (br_netfilter not loaded); set these on the machine that owns the kernel or network namespace" >&2
  exit 1
fi
if [ $c = 1 ]; then report changed; else report unchanged; fi
