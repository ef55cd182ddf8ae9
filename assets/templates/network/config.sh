# The network config flanneld reads, written into etcd once through this member (etcd {{ api }}
# API: flannel {{ version }} reads {{ api }}; the v2 and v3 keyspaces are separate).
key={{ key | sq }}
conf={{ config | sq }}
{% if api == "v2" -%}
E="{{ etcdctl }}"
if have=$($E get "$key" 2>&1); then :; else
  case "$have" in
    *"Key not found"*) have="" ;;
    *) echo "cannot read $key through etcd's v2 API: $have" >&2; exit 1 ;;
  esac
fi
{% else -%}
E="{{ etcdctl }}"
if ! have=$($E get "$key" --print-value-only 2>&1); then
  echo "cannot read $key through etcd's v3 API: $have" >&2; exit 1
fi
{% endif -%}
if [ "$have" = "$conf" ]; then
  echo "$key (etcd {{ api }}): $conf"
  report unchanged; exit 0
fi
[ -n "$have" ] && echo "$key was: $have"
{% if api == "v2" -%}
if ! out=$($E set "$key" "$conf" 2>&1); then
{% else -%}
if ! out=$($E put "$key" "$conf" 2>&1); then
{% endif -%}
  echo "cannot write $key through etcd's {{ api }} API: $out" >&2; exit 1
fi
echo "$key (etcd {{ api }}) set to $conf"
report changed
