# The data directory must be empty or this cluster's own: a stale one from another cluster
# makes etcd fail with "member ... has already been bootstrapped" or "cluster ID mismatch".
d={{ data_dir | sq }}
marker="$d/kubewiz-cluster"
want={{ token | sq }}
if [ -d "$d/member" ]; then
  have=$(cat "$marker" 2>/dev/null || echo "none")
  if [ "$have" = "$want" ]; then report unchanged; exit 0; fi
  echo "stale etcd data directory $d/member from another cluster (its marker: $have; this cluster: $want)" >&2
  echo "etcd would refuse it with 'member has already been bootstrapped' or 'cluster ID mismatch'" >&2
  exit 1
fi
mkdir -p "$d"
chmod 700 "$d"
if [ "$(cat "$marker" 2>/dev/null)" = "$want" ]; then report unchanged; exit 0; fi
echo "$want" > "$marker"
echo "data directory $d ready for cluster token $want"
report changed
