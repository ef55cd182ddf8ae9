# peer_lib.sh — sourced by the bench's by-hand peers (peer_network.sh, peer_install.sh): plain
# ssh and scp to the nspawn lab's machines 10.77.0.11.. as user kube (sudo), host keys checked
# against the lab's known_hosts, and a helper that runs a function for every machine at once.
# Needs N (the number of machines) set by the caller.
# The lab's files: $KUBEWIZ_LAB (as the lab tests take it), else this checkout's .lab.
LABDIR=${KUBEWIZ_LAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)/.lab}
KEY=$LABDIR/id_lab
KNOWN=$LABDIR/cluster/known_hosts
SSHO=(-F none -i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes
  -o UserKnownHostsFile="$KNOWN" -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR)
ip_of() { echo "10.77.0.$((10 + $1))"; }
# on I CMD: CMD as root on machine I
on() { local i=$1; shift; ssh "${SSHO[@]}" "kube@$(ip_of "$i")" sudo sh -c "$(printf '%q' "$*")"; }
# put I FILE...: the files into machine I's /tmp
put() { local i=$1; shift; scp -q "${SSHO[@]}" "$@" "kube@$(ip_of "$i"):/tmp/"; }
# par F: F 1 .. F N at the same time; fails when one of them did
par() { local f=$1 i p pids=() rc=0; for ((i = 1; i <= N; i++)); do "$f" "$i" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done; return $rc; }
