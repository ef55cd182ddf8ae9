# Install {{ listing }} {{ version }} into {{ bin_dir }}.
{% if source == "installed" -%}
for b in {{ binaries | join(" ") }}; do
  if ! has $b; then
    echo "$b is not installed on this host (binaries.source: installed); install {{ name }} {{ version }} or use a bundle" >&2
    exit 1
  fi
done
have=$({{ version_cmd }})
if [ "$have" != {{ version | sq }} ]; then
  echo "{{ name }} $have is installed but the cluster file asks for {{ version }}" >&2
  exit 1
fi
c=0
mkdir -p {{ bin_dir }}
for b in {{ binaries | join(" ") }}; do
  if [ "$(readlink -f {{ bin_dir }}/$b)" != "$(readlink -f "$(command -v $b)")" ]; then
    ln -sf "$(command -v $b)" {{ bin_dir }}/$b; echo "{{ bin_dir }}/$b -> $(command -v $b)"; c=1
  fi
done
{% else -%}
tarball={{ tarball | sq }}
# After an install, the stamp holds what the tarball and the binaries were (device, inode,
# size, mtime; an upload or a download renames a new file in, a new install too): while they
# are the same, nothing is unpacked again (unpacking the Kubernetes tarball takes seconds).
stamp={{ stamp | sq }}
ident() { stat -L -c '%d:%i:%s:%y' "$tarball"{% for b in binaries %} {{ bin_dir }}/{{ b }}{% endfor %} 2>/dev/null || true; }
c=0
if [ ! -f "$stamp" ] || [ "$(ident)" != "$(cat "$stamp")" ]; then
{% if source == "mirror" -%}
if ! tar -tzf "$tarball" >/dev/null 2>&1; then
  mkdir -p "$(dirname "$tarball")"
  echo "downloading {{ url }}"
  if ! out=$(curl -fsSL --retry 3 -o "$tarball.part" {{ url | sq }} 2>&1); then
    echo "cannot download {{ url }}: $out" >&2; exit 1
  fi
  mv -f "$tarball.part" "$tarball"
fi
{% endif -%}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! out=$(tar -xzf "$tarball" -C "$tmp"{% for b in binaries %} {{ prefix }}{{ b }}{% endfor %} 2>&1); then
  echo "$tarball does not hold {{ prefix }}{{ listing }}: $out" >&2; exit 1
fi
mkdir -p {{ bin_dir }}
for b in {{ binaries | join(" ") }}; do
  if ! cmp -s "$tmp/{{ prefix }}$b" {{ bin_dir }}/$b; then
    # A new file renamed over the old one: a running binary cannot be written to (Text file
    # busy), and the path never points at a half-written file.
    install -m 0755 "$tmp/{{ prefix }}$b" {{ bin_dir }}/.$b.kubewiz-new
    mv -f {{ bin_dir }}/.$b.kubewiz-new {{ bin_dir }}/$b
    echo "installed {{ bin_dir }}/$b"; c=1
  fi
done
rm -rf "$tmp"
mkdir -p "$(dirname "$stamp")"
ident > "$stamp"
fi
{% endif -%}
{{ bin_dir }}/{{ binaries[0] }} --version 2>&1 | head -n 1
if [ $c = 1 ]; then
{% for unit in restart_units %}  {{ touch_restart_marker(unit) }}
{% endfor %}  report changed
else
  report unchanged
fi
