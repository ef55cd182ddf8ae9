# {{ path }}, owned by kubewiz. The values only the host knows are filled in here: the cgroup
# driver recorded by the cgroup-driver step{% if dns %}, and the nameservers of /etc/resolv.conf
# (loopback ones left out, and the `dns` key with them when none is left; never a public
# resolver){% endif %}.
path={{ path | sq }}
driver=$(cat {{ record | sq }})
case "$driver" in systemd|cgroupfs) ;; *) echo "{{ record }} holds no cgroup driver (\"$driver\")" >&2; exit 1 ;; esac
{% if dns -%}
dns=$(awk '$1 == "nameserver" && $2 !~ /^127\./ && $2 != "::1" { printf "%s\"%s\"", sep, $2; sep = ", " }' /etc/resolv.conf 2>/dev/null || true)
{% endif -%}
want=$(mktemp)
trap 'rm -f "$want"' EXIT
cat > "$want" <<'KUBEWIZ_CONFIG'
{{ content }}KUBEWIZ_CONFIG
{% if dns -%}
if [ -n "$dns" ]; then
  sed -i -e "s/\"@DNS@\"/$dns/" "$want"
else
  sed -i -e '/"@DNS@"/d' "$want"
fi
{% endif -%}
sed -i -e "s/@DRIVER@/$driver/g" -e "s/@SYSTEMD_CGROUP@/$([ "$driver" = systemd ] && echo true || echo false)/g" "$want"
if cmp -s "$want" "$path"; then
  report unchanged
  exit 0
fi
mkdir -p "$(dirname "$path")"
# A file kubewiz did not write (a package's default) is kept beside it, once; one kubewiz wrote
# (listed in {{ owned }}) is simply replaced.
owned={{ owned | sq }}
if [ -f "$path" ] && ! grep -qxF "$path" "$owned" 2>/dev/null && [ ! -e "$path.kubewiz-orig" ]; then
  cp -p "$path" "$path.kubewiz-orig"
  echo "kept the file that was there as $path.kubewiz-orig"
fi
install -m 0644 "$want" "$path.kubewiz-tmp" && mv -f "$path.kubewiz-tmp" "$path"
mkdir -p "$(dirname "$owned")"
grep -qxF "$path" "$owned" 2>/dev/null || echo "$path" >> "$owned"
echo "wrote $path (cgroup driver $driver)"
{{ touch_restart_marker(unit) }}
report changed
