# The cgroup driver, decided once per host and recorded where the runtime and kubelet steps read
# it (their drivers must match: catalog D1).
record={{ record | sq }}
recorded=$(cat "$record" 2>/dev/null || true)
case "$recorded" in systemd|cgroupfs) ;; *) recorded="" ;; esac
fs=$(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo unknown)
{% if wanted != "auto" -%}
driver={{ wanted }}
why="the cluster file asks for it (cgroup_driver: {{ wanted }})"
{%- else -%}
if [ -n "$recorded" ]; then
  driver=$recorded
  why="recorded in $record by an earlier run"
elif [ -d /run/systemd/system ] && [ "$fs" = cgroup2fs ]; then
  driver=systemd
  why="systemd with the unified cgroup hierarchy: /sys/fs/cgroup is $fs"
elif [ -d /run/systemd/system ]; then
  driver=cgroupfs
  why="cgroup v1 or hybrid hierarchy: /sys/fs/cgroup is $fs"
else
  driver=cgroupfs
  why="the host does not run systemd"
fi
{%- endif %}
echo "cgroup driver: $driver ($why)"
if [ "$recorded" = "$driver" ]; then
  report unchanged
else
  mkdir -p "$(dirname "$record")"
  printf '%s\n' "$driver" > "$record.kubewiz-tmp" && mv -f "$record.kubewiz-tmp" "$record"
  if [ -n "$recorded" ]; then echo "was $recorded"; fi
  echo "recorded in $record"
  report changed
fi
