# Enable and start {{ units | join(" and ") }}; restart a unit once when a step changed its
# configuration (its restart marker), then wait until {{ runtime }} answers.
c=0
for u in {{ units | join(" ") }}; do
  marker=/run/kubewiz/$u.restart
  enable_unit "$u"
  if ! systemctl is-active --quiet "$u"; then
    systemctl reset-failed "$u" 2>/dev/null || true
    systemctl start "$u"
    rm -f "$marker"
    echo "$u started"; c=1
  elif [ -f "$marker" ]; then
    systemctl restart "$u"
    rm -f "$marker"
    echo "$u restarted (its configuration changed)"; c=1
  fi
done
i=0
until {{ probe }} >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -ge {{ wait_secs }} ]; then
    echo "{{ runtime }} does not answer \`{{ probe }}\` after {{ wait_secs }} s" >&2
    {{ probe }} >&2 || true
    exit 1
  fi
  sleep 1
done
driver=$(cat {{ record | sq }})
{% if runtime == "docker" -%}
{% raw %}have=$(docker info --format '{{.CgroupDriver}}')
echo "docker $(docker version --format '{{.Server.Version}}'): cgroup driver $have, storage driver $(docker info --format '{{.Driver}}')"{% endraw %}
if [ "$have" != "$driver" ]; then
  echo "docker runs with cgroup driver $have but {{ record }} says $driver: something besides /etc/docker/daemon.json sets native.cgroupdriver (a flag in the unit or /etc/default/docker)" >&2
  exit 1
fi
policy=$(iptables -S FORWARD | awk '$1 == "-P" { print $3; exit }')
echo "iptables FORWARD policy: $policy"
if [ "$policy" != ACCEPT ]; then
  echo "docker left the iptables FORWARD policy at $policy although its kubewiz drop-in sets ACCEPT after each start (catalog D5)" >&2
  exit 1
fi
{%- else -%}
have=$(containerd config dump | awk '$1 == "SystemdCgroup" { print $3; exit }')
want=$([ "$driver" = systemd ] && echo true || echo false)
echo "$(containerd --version | awk '{ print $1, $3 }'): cgroup driver $driver (SystemdCgroup = $have)"
containerd config dump | awk '$1 == "sandbox_image" { print "sandbox_image = " $3; exit }'
if [ "$have" != "$want" ]; then
  echo "containerd runs with SystemdCgroup = $have but {{ record }} says $driver" >&2
  exit 1
fi
{%- endif %}
if [ $c = 1 ]; then report changed; else report unchanged; fi
