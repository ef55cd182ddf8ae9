E="{{ etcdctl }}"
deadline=$(( $(date +%s) + {{ wait_secs }} ))
n=0
while :; do
  if out=$($E endpoint health 2>&1); then
    echo "$out"
    report unchanged; exit 0
  fi
  now=$(date +%s)
  if [ "$now" -ge "$deadline" ]; then
    echo "etcd is not healthy after {{ wait_secs }} s:" >&2
    printf '%s\n' "$out" >&2
    exit 1
  fi
  n=$((n + 1))
  if [ $((n % 5)) = 0 ]; then
    echo "waiting for the etcd quorum ($((deadline - now)) s left): $(printf '%s' "$out" | tail -n 1)"
  fi
  sleep 2
done
