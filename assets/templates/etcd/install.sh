# Install etcd and etcdctl {{ version }} into /usr/local/bin.
{% if source == "installed" -%}
for b in etcd etcdctl; do
  if ! has $b; then
    echo "$b is not installed on this host (binaries.source: installed); install etcd {{ version }} or use a bundle" >&2
    exit 1
  fi
done
have=$(etcd --version | awk '/^etcd Version:/ { print $3 }')
if [ "$have" != {{ version | sq }} ]; then
  echo "etcd $have is installed but the cluster file asks for {{ version }}" >&2
  exit 1
fi
c=0
for b in etcd etcdctl; do
  if [ "$(readlink -f /usr/local/bin/$b)" != "$(readlink -f "$(command -v $b)")" ]; then
    ln -sf "$(command -v $b)" /usr/local/bin/$b; echo "/usr/local/bin/$b -> $(command -v $b)"; c=1
  fi
done
{% else -%}
tarball={{ tarball | sq }}
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
if ! out=$(tar -xzf "$tarball" -C "$tmp" {{ dir }}/etcd {{ dir }}/etcdctl 2>&1); then
  echo "$tarball does not hold {{ dir }}/etcd and etcdctl: $out" >&2; exit 1
fi
c=0
for b in etcd etcdctl; do
  if ! cmp -s "$tmp/{{ dir }}/$b" /usr/local/bin/$b; then
    install -m 0755 "$tmp/{{ dir }}/$b" /usr/local/bin/$b
    echo "installed /usr/local/bin/$b"; c=1
  fi
done
{% endif -%}
/usr/local/bin/etcd --version | head -n 1
if [ $c = 1 ]; then
  mkdir -p /run/kubewiz && touch /run/kubewiz/etcd.restart
  report changed
else
  report unchanged
fi
