E="{{ etcdctl }}"
start=$(date +%s)
deadline=$(( start + {{ wait_secs }} ))
# A member that exits at every start (a damaged data directory, a bad flag) will not become
# healthy by waiting: after a few restarts by systemd, stop waiting and let its journal speak.
restarts() { r=$(systemctl show -p NRestarts --value {{ unit }} 2>/dev/null); echo "${r:-0}"; }
r0=$(restarts)
n=0
while :; do
  if out=$($E endpoint health 2>&1); then
    echo "$out"
    report unchanged; exit 0
  fi
  now=$(date +%s)
  if [ $(( $(restarts) - r0 )) -ge {{ crash_restarts }} ]; then
    echo "etcd keeps exiting on this member: systemd restarted it $(( $(restarts) - r0 )) times in $((now - start)) s, so it is not waited for" >&2
    printf '%s\n' "$out" >&2
    exit 1
  fi
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
