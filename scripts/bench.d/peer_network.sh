#!/usr/bin/env bash
# peer_network.sh — the bench's peer for the runtime and network stages: the same work done the
# way a by-hand binary install does it (the reference's lab/cluster.sh: its etcd config write,
# flannel, docker and images steps), with plain ssh and scp, on the nspawn lab's machines.
#
#   peer_network.sh BUNDLE_UNPACKED N
# BUNDLE_UNPACKED holds flanneld, mk-docker-opts.sh and images/*.tar (unpacked before timing,
# as the by-hand install has its binaries ready); N machines at 10.77.0.11.. (user kube, sudo).
# flanneld gets the members' etcd health-check client certificate (kubewiz's etcd stage put it
# there); docker gets the daemon.json kubewiz writes, so both do the same work.
set -euo pipefail
SRC=$1 N=$2
. "$(dirname "${BASH_SOURCE[0]}")/peer_lib.sh"
P=/etc/etcd/pki
ENDPOINTS=$(for ((i = 1; i <= N; i++)); do printf 'https://%s:2379,' "$(ip_of "$i")"; done | sed 's/,$//')
TLS="--cacert=$P/ca.crt --cert=$P/healthcheck-client.crt --key=$P/healthcheck-client.key"

conf='{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}'
on 1 "ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 $TLS put /coreos.com/network/config '$conf'" >/dev/null

flannel_one() {
  local i=$1
  on "$i" 'systemctl stop flanneld 2>/dev/null; true'
  put "$i" "$SRC/flanneld" "$SRC/mk-docker-opts.sh"
  on "$i" "install -m 755 /tmp/flanneld /tmp/mk-docker-opts.sh /usr/local/bin/ && rm /tmp/flanneld /tmp/mk-docker-opts.sh
cat >/etc/systemd/system/flanneld.service <<UNIT
[Unit]
Description=flanneld
After=network-online.target etcd.service
Before=docker.service
[Service]
Type=notify
ExecStart=/usr/local/bin/flanneld --etcd-endpoints=$ENDPOINTS --etcd-prefix=/coreos.com/network --etcd-cafile=$P/ca.crt --etcd-certfile=$P/healthcheck-client.crt --etcd-keyfile=$P/healthcheck-client.key --iface=$(ip_of "$i") --ip-masq
ExecStartPost=/usr/local/bin/mk-docker-opts.sh -k DOCKER_NETWORK_OPTIONS -d /run/flannel/docker
Restart=on-failure
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload && systemctl enable flanneld 2>/dev/null"
}
par flannel_one
# one at a time, 1 s apart (flannel 0.20.2 misses leases made at the same moment), then routes
for ((i = 1; i <= N; i++)); do on "$i" 'systemctl start flanneld'; sleep 1; done
sleep 1
for ((i = 1; i <= N; i++)); do
  n=$(on "$i" "ip route | grep -c '^10\.244\..* via '" || true)
  ((n == N - 1)) || on "$i" 'systemctl restart flanneld'
  on "$i" 'grep -h -e FLANNEL_SUBNET -e FLANNEL_MTU /run/flannel/subnet.env' >/dev/null
done

docker_one() {
  on "$1" 'mkdir -p /etc/docker /etc/systemd/system/docker.service.d
cat >/etc/docker/daemon.json <<JSON
{"exec-opts": ["native.cgroupdriver=cgroupfs"], "log-driver": "json-file", "log-opts": {"max-size": "100m", "max-file": "5"}, "storage-driver": "overlay2", "dns": ["10.77.0.1"]}
JSON
cat >/etc/systemd/system/docker.service.d/flannel.conf <<UNIT
[Unit]
After=flanneld.service
Wants=flanneld.service
[Service]
EnvironmentFile=/run/flannel/docker
ExecStart=
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock \$DOCKER_NETWORK_OPTIONS
ExecStartPost=/bin/sh -c "iptables -P FORWARD ACCEPT"
UNIT
systemctl daemon-reload && systemctl enable containerd docker 2>/dev/null && systemctl restart docker'
}
par docker_one

images_one() {
  on "$1" 'install -d -o kube /tmp/peer-images'
  scp -q "${SSHO[@]}" "$SRC"/images/*.tar "kube@$(ip_of "$1"):/tmp/peer-images/"
  on "$1" 'for f in /tmp/peer-images/*.tar; do docker load -i "$f" >/dev/null; done; rm -rf /tmp/peer-images'
}
par images_one
