#!/usr/bin/env bash
# peer_install.sh — the bench's peer for a whole install from empty machines: the work kubewiz's
# stages do, done the way a by-hand binary install does it (the reference's lab/mkpki.sh and
# lab/cluster.sh: an openssl PKI, etcd with TLS, flannel, docker, the images, the control plane,
# its RBAC, then the nodes by TLS bootstrapping), with plain ssh and scp, on the nspawn lab.
#
#   peer_install.sh BUNDLE_UNPACKED N THROUGH CLUSTER_FILE
# BUNDLE_UNPACKED: etcd, etcdctl, flanneld, mk-docker-opts.sh, the six Kubernetes server binaries
# and images/*.tar (unpacked before timing, as a by-hand install has its binaries ready).
# N machines at 10.77.0.11.. named node1..nodeN (user kube, sudo); node1 is the master, every
# machine an etcd member and a node, as in the lab's cluster file. THROUGH: control_plane (stop
# once the control plane answers and its RBAC is in) or join (every node Ready). CLUSTER_FILE
# goes into the cluster as kubewiz's upload-config does it.
#
# Same work as kubewiz, not the reference's shortcuts: RSA-2048 keys, kubewiz's certificates
# (etcd server and peer per member, the API server's etcd client, the front proxy), file names
# and flags; host prep (swap, br_netfilter, sysctls, /etc/hosts); the controller-manager's and
# scheduler's /healthz waited for; the kubelets' serving certificates approved, the master
# labelled. The lab's nspawn fix-ups are in the machines already (scripts/lab); kube-proxy gets
# conntrack zeros (/proc/sys is read-only in nspawn). Prints each step's time on stderr.
set -euo pipefail
SRC=$1 N=$2 THROUGH=$3 CLUSTER_FILE=$4
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
. "$HERE/peer_lib.sh"
case $THROUGH in control_plane | join) ;; *) echo "THROUGH: control_plane or join, not $THROUGH" >&2; exit 2 ;; esac
MASTER=$(ip_of 1)
SERVER=https://$MASTER:6443
EP=/etc/etcd/pki
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
PKI=$W/pki
KUBECTL=("$SRC/kubectl" --kubeconfig "$PKI/admin.conf" --request-timeout=10s)
ETCD_PEERS=$(for ((i = 1; i <= N; i++)); do printf 'node%d=https://%s:2380,' "$i" "$(ip_of "$i")"; done | sed 's/,$//')
ETCD_CLIENTS=$(for ((i = 1; i <= N; i++)); do printf 'https://%s:2379,' "$(ip_of "$i")"; done | sed 's/,$//')
T0=$EPOCHREALTIME
secs() { echo "$EPOCHREALTIME - $1" | bc; }
step() { local s0=$EPOCHREALTIME; "step_$1"; printf 'peer: %-8s %6.2f s (at %6.2f s)\n' "$1" "$(secs "$s0")" "$(secs "$T0")" >&2; }

# ------------------------------------------------------------------ PKI (openssl, as mkpki.sh)
ca() { # FILE CN: a self-signed CA, 10 years
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -days 3650 -subj "/CN=$2" 2>/dev/null
}
leaf() { # FILE CA CN O EKU [SANS]: a key and a certificate of CA, one year
  local f=$1 ca=$2 cn=$3 o=$4 eku=$5 san=${6:-}
  openssl req -newkey rsa:2048 -nodes -keyout "$f.key" -out "$f.csr" -subj "/CN=$cn${o:+/O=$o}" 2>/dev/null
  {
    echo basicConstraints=CA:FALSE
    echo keyUsage=critical,digitalSignature,keyEncipherment
    echo "extendedKeyUsage=$eku"
    [[ -z $san ]] || echo "subjectAltName=$san"
  } >"$f.ext"
  openssl x509 -req -in "$f.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days 365 \
    -extfile "$f.ext" -out "$f.crt" 2>/dev/null
  rm -f "$f.csr" "$f.ext"
}
kubeconfig() { # FILE USER CREDENTIAL: CREDENTIAL is a leaf's FILE or token:ID.SECRET
  local user=$2 cred=$3
  {
    printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n'
    printf '    certificate-authority-data: %s\n    server: %s\n' "$(base64 -w0 "$PKI/ca.crt")" "$SERVER"
    printf 'users:\n- name: %s\n  user:\n' "$user"
    if [[ $cred == token:* ]]; then
      printf '    token: %s\n' "${cred#token:}"
    else
      printf '    client-certificate-data: %s\n    client-key-data: %s\n' \
        "$(base64 -w0 "$cred.crt")" "$(base64 -w0 "$cred.key")"
    fi
    printf 'contexts:\n- name: default\n  context: {cluster: lab, user: %s}\ncurrent-context: default\n' "$user"
  } >"$1"
  chmod 600 "$1"
}
step_pki() {
  mkdir -p "$PKI/etcd"
  cd "$PKI"
  ca ca kubernetes
  ca front-proxy-ca front-proxy-ca
  ca etcd/ca etcd-ca
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  local i san
  for ((i = 1; i <= N; i++)); do
    mkdir -p "etcd/node$i"
    san="IP:$(ip_of "$i"),DNS:node$i,IP:127.0.0.1,DNS:localhost"
    leaf "etcd/node$i/server" etcd/ca "node$i" "" serverAuth,clientAuth "$san"
    leaf "etcd/node$i/peer" etcd/ca "node$i" "" serverAuth,clientAuth "$san"
  done
  leaf etcd/healthcheck-client etcd/ca kube-etcd-healthcheck-client "" clientAuth
  leaf apiserver-etcd-client etcd/ca kube-apiserver-etcd-client "" clientAuth
  leaf flannel-etcd-client etcd/ca flanneld "" clientAuth
  leaf apiserver ca kube-apiserver "" serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1,IP:$MASTER,DNS:node1,IP:127.0.0.1"
  leaf apiserver-kubelet-client ca kube-apiserver-kubelet-client system:masters clientAuth
  leaf front-proxy-client front-proxy-ca front-proxy-client "" clientAuth
  leaf admin ca kubernetes-admin system:masters clientAuth
  leaf controller-manager ca system:kube-controller-manager "" clientAuth
  leaf scheduler ca system:kube-scheduler "" clientAuth
  leaf kube-proxy ca system:kube-proxy "" clientAuth
  local k
  for k in admin:kubernetes-admin controller-manager:system:kube-controller-manager \
    scheduler:system:kube-scheduler kube-proxy:system:kube-proxy; do
    kubeconfig "${k%%:*}.conf" "${k#*:}" "$PKI/${k%%:*}"
  done
  # TLS bootstrapping: the token the kubelets authenticate with until they have a certificate
  TOKEN_ID=$(openssl rand -hex 3) TOKEN_SECRET=$(openssl rand -hex 8)
  kubeconfig bootstrap-kubelet.conf kubelet-bootstrap "token:$TOKEN_ID.$TOKEN_SECRET"
  cd - >/dev/null
}

# ------------------------------------------------------------------ host prep
prep_one() {
  local i=$1 hosts="" j
  for ((j = 1; j <= N; j++)); do hosts+="$(ip_of "$j") node$j"$'\n'; done
  on "$i" "swapoff -a
mkdir -p /etc/modules-load.d /etc/sysctl.d
echo br_netfilter >/etc/modules-load.d/br_netfilter.conf
[ -d /proc/sys/net/bridge ] || modprobe br_netfilter
printf 'net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n' >/etc/sysctl.d/99-kubernetes.conf
sysctl -q -p /etc/sysctl.d/99-kubernetes.conf
sed -i '/^# BEGIN lab hosts/,/^# END lab hosts/d' /etc/hosts
printf '# BEGIN lab hosts\n%s# END lab hosts\n' '$hosts' >>/etc/hosts"
}
step_prep() { par prep_one; }

# ------------------------------------------------------------------ etcd (TLS, 3 members)
etcd_one() {
  local i=$1 ip d=$W/etcd-node$1
  ip=$(ip_of "$i")
  mkdir -p "$d"
  cp "$PKI"/etcd/ca.crt "$PKI"/etcd/healthcheck-client.{crt,key} "$PKI"/flannel-etcd-client.{crt,key} \
    "$PKI/etcd/node$i"/{server,peer}.{crt,key} "$d/"
  put "$i" "$SRC/etcd" "$SRC/etcdctl"
  scp -q -r "${SSHO[@]}" "$d" "kube@$ip:/tmp/etcd-pki"
  on "$i" "install -m 755 /tmp/etcd /tmp/etcdctl /usr/local/bin/ && rm /tmp/etcd /tmp/etcdctl
install -d -m 700 $EP /var/lib/etcd
install -m 644 /tmp/etcd-pki/*.crt $EP/ && install -m 600 /tmp/etcd-pki/*.key $EP/ && rm -rf /tmp/etcd-pki
cat >/etc/systemd/system/etcd.service <<UNIT
[Unit]
Description=etcd
After=network-online.target
Wants=network-online.target
[Service]
Type=notify
ExecStart=/usr/local/bin/etcd --name=node$i --data-dir=/var/lib/etcd \\\\
  --listen-client-urls=https://$ip:2379,https://127.0.0.1:2379 --advertise-client-urls=https://$ip:2379 \\\\
  --listen-peer-urls=https://$ip:2380 --initial-advertise-peer-urls=https://$ip:2380 \\\\
  --initial-cluster=$ETCD_PEERS --initial-cluster-state=new --initial-cluster-token=peer \\\\
  --cert-file=$EP/server.crt --key-file=$EP/server.key --trusted-ca-file=$EP/ca.crt --client-cert-auth=true \\\\
  --peer-cert-file=$EP/peer.crt --peer-key-file=$EP/peer.key --peer-trusted-ca-file=$EP/ca.crt --peer-client-cert-auth=true \\\\
  --auto-compaction-retention=1 --quota-backend-bytes=8589934592
Restart=on-failure
RestartSec=5
LimitNOFILE=65536
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload && systemctl enable --quiet etcd && systemctl start --no-block etcd"
}
step_etcd() {
  par etcd_one
  local health="ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints=$ETCD_CLIENTS --cacert=$EP/ca.crt --cert=$EP/healthcheck-client.crt --key=$EP/healthcheck-client.key endpoint health"
  on 1 "for t in \$(seq 300); do $health >/dev/null 2>&1 && exit 0; sleep 0.3; done; $health"
}

# ------------------------------------------------------------------ runtime + network
step_network() { "$HERE/peer_network.sh" "$SRC" "$N"; }

# ------------------------------------------------------------------ control plane on node1
unit() { # NAME DESCRIPTION AFTER FLAGS...: a unit file's text
  local name=$1 desc=$2 after=$3
  shift 3
  printf '[Unit]\nDescription=%s\nAfter=%s\n[Service]\nExecStart=/usr/local/bin/%s' "$desc" "$after" "$name"
  printf ' \\\n  --%s' "$@"
  printf '\nRestart=on-failure\nRestartSec=5\nLimitNOFILE=65536\n[Install]\nWantedBy=multi-user.target\n'
}
step_master() {
  local K=/etc/kubernetes P=/etc/kubernetes/pki d=$W/master
  mkdir -p "$d/pki/etcd"
  cp "$PKI"/{ca,apiserver,apiserver-kubelet-client,front-proxy-client}.{crt,key} "$PKI"/front-proxy-ca.crt \
    "$PKI"/apiserver-etcd-client.{crt,key} "$PKI"/sa.{key,pub} "$d/pki/"
  cp "$PKI/etcd/ca.crt" "$d/pki/etcd/"
  cp "$PKI"/{admin,controller-manager,scheduler}.conf "$d/"
  unit kube-apiserver "Kubernetes API server" "network-online.target etcd.service" \
    advertise-address="$MASTER" bind-address=0.0.0.0 secure-port=6443 insecure-port=0 \
    etcd-servers="$ETCD_CLIENTS" etcd-cafile=$P/etcd/ca.crt etcd-certfile=$P/apiserver-etcd-client.crt \
    etcd-keyfile=$P/apiserver-etcd-client.key service-cluster-ip-range=10.96.0.0/12 \
    client-ca-file=$P/ca.crt tls-cert-file=$P/apiserver.crt tls-private-key-file=$P/apiserver.key \
    kubelet-client-certificate=$P/apiserver-kubelet-client.crt kubelet-client-key=$P/apiserver-kubelet-client.key \
    kubelet-preferred-address-types=InternalIP,Hostname service-account-key-file=$P/sa.pub \
    service-account-signing-key-file=$P/sa.key service-account-issuer=https://kubernetes.default.svc.cluster.local \
    authorization-mode=Node,RBAC enable-admission-plugins=NodeRestriction enable-bootstrap-token-auth=true \
    allow-privileged=true requestheader-client-ca-file=$P/front-proxy-ca.crt \
    requestheader-allowed-names=front-proxy-client requestheader-extra-headers-prefix=X-Remote-Extra- \
    requestheader-group-headers=X-Remote-Group requestheader-username-headers=X-Remote-User \
    proxy-client-cert-file=$P/front-proxy-client.crt proxy-client-key-file=$P/front-proxy-client.key \
    >"$d/kube-apiserver.service"
  unit kube-controller-manager "Kubernetes controller manager" "network-online.target kube-apiserver.service" \
    kubeconfig=$K/controller-manager.conf authentication-kubeconfig=$K/controller-manager.conf \
    authorization-kubeconfig=$K/controller-manager.conf bind-address=127.0.0.1 secure-port=10257 port=0 \
    leader-elect=true 'controllers=*,bootstrapsigner,tokencleaner' client-ca-file=$P/ca.crt \
    requestheader-client-ca-file=$P/front-proxy-ca.crt cluster-signing-cert-file=$P/ca.crt \
    cluster-signing-key-file=$P/ca.key root-ca-file=$P/ca.crt service-account-private-key-file=$P/sa.key \
    use-service-account-credentials=true service-cluster-ip-range=10.96.0.0/12 allocate-node-cidrs=false \
    >"$d/kube-controller-manager.service"
  unit kube-scheduler "Kubernetes scheduler" "network-online.target kube-apiserver.service" \
    kubeconfig=$K/scheduler.conf authentication-kubeconfig=$K/scheduler.conf \
    authorization-kubeconfig=$K/scheduler.conf bind-address=127.0.0.1 secure-port=10259 port=0 leader-elect=true \
    >"$d/kube-scheduler.service"
  put 1 "$SRC"/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
  scp -q -r "${SSHO[@]}" "$d" "kube@$MASTER:/tmp/master"
  on 1 "cd /tmp && install -m 755 kube-apiserver kube-controller-manager kube-scheduler kubectl /usr/local/bin/ &&
rm kube-apiserver kube-controller-manager kube-scheduler kubectl
install -d -m 755 $K $P $P/etcd
install -m 644 master/pki/*.crt master/pki/sa.pub $P/ && install -m 600 master/pki/*.key $P/
install -m 644 master/pki/etcd/ca.crt $P/etcd/ && install -m 600 master/*.conf $K/
install -m 644 master/*.service /etc/systemd/system/ && rm -rf master
systemctl daemon-reload && systemctl enable --quiet --now kube-apiserver kube-controller-manager kube-scheduler"
  local t
  for ((t = 0; t < 400; t++)); do
    [[ $("${KUBECTL[@]}" get --raw /readyz 2>/dev/null) == ok ]] && break
    sleep 0.3
  done
  "${KUBECTL[@]}" get --raw /readyz >/dev/null
  # /healthz of the two others: their ports listen on 127.0.0.1 only, and an anonymous request
  # gets 401: kubectl on the master with a client certificate of the cluster CA
  local probe="/usr/local/bin/kubectl --kubeconfig=/dev/null --insecure-skip-tls-verify --request-timeout=5s --client-certificate=$P/apiserver-kubelet-client.crt --client-key=$P/apiserver-kubelet-client.key"
  on 1 "for port in 10257 10259; do
  for t in \$(seq 400); do [ \"\$($probe --server=https://127.0.0.1:\$port get --raw /healthz 2>/dev/null)\" = ok ] && break; sleep 0.3; done
  $probe --server=https://127.0.0.1:\$port get --raw /healthz >/dev/null
done"
}

binding() { # NAME ROLE KIND SUBJECT
  printf -- '---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: "%s"}\n' "$1"
  printf 'roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "%s"}\n' "$2"
  printf 'subjects: [{apiGroup: rbac.authorization.k8s.io, kind: %s, name: "%s"}]\n' "$3" "$4"
}
step_rbac() {
  local csr=system:certificates.k8s.io:certificatesigningrequests
  {
    binding peer:apiserver-kubelet-api-admin system:kubelet-api-admin User kube-apiserver-kubelet-client
    binding peer:node-bootstrapper system:node-bootstrapper Group system:bootstrappers:peer
    binding peer:node-autoapprove-bootstrap $csr:nodeclient Group system:bootstrappers:peer
    binding peer:node-autoapprove-certificate-rotation $csr:selfnodeclient Group system:nodes
  } | "${KUBECTL[@]}" apply -f - >/dev/null
}

# ------------------------------------------------------------------ nodes (TLS bootstrapping)
step_token() {
  "${KUBECTL[@]}" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-$TOKEN_ID, namespace: kube-system}
type: bootstrap.kubernetes.io/token
stringData:
  token-id: "$TOKEN_ID"
  token-secret: "$TOKEN_SECRET"
  expiration: "$(date -u -d '+24 hours' +%Y-%m-%dT%H:%M:%SZ)"
  usage-bootstrap-authentication: "true"
  usage-bootstrap-signing: "true"
  auth-extra-groups: system:bootstrappers:peer
YAML
  "${KUBECTL[@]}" -n kube-system create configmap kubewiz-config --from-file=cluster.yaml="$CLUSTER_FILE" >/dev/null
}
node_one() {
  local i=$1 ip d=$W/node$1 K=/etc/kubernetes
  ip=$(ip_of "$i")
  mkdir -p "$d"
  cp "$PKI"/ca.crt "$PKI"/{bootstrap-kubelet,kube-proxy}.conf "$d/"
  cat >"$d/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $K/pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
rotateCertificates: true
serverTLSBootstrap: true
YAML
  cat >"$d/kube-proxy-config.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
bindAddress: $ip
clientConnection: {kubeconfig: $K/kube-proxy.conf}
clusterCIDR: 10.244.0.0/16
hostnameOverride: node$i
mode: iptables
# lab only: /proc/sys is read-only in nspawn; 0 leaves the conntrack settings alone
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
  unit kubelet "Kubernetes kubelet" "docker.service" config=$K/kubelet-config.yaml \
    bootstrap-kubeconfig=$K/bootstrap-kubelet.conf kubeconfig=$K/kubelet.conf cert-dir=/var/lib/kubelet/pki \
    hostname-override="node$i" node-ip="$ip" pod-infra-container-image=k8s.gcr.io/pause:3.2 \
    container-runtime=docker >"$d/kubelet.service"
  unit kube-proxy "Kubernetes kube-proxy" "network-online.target" config=$K/kube-proxy-config.yaml \
    >"$d/kube-proxy.service"
  put "$i" "$SRC/kubelet" "$SRC/kube-proxy"
  scp -q -r "${SSHO[@]}" "$d" "kube@$ip:/tmp/node"
  on "$i" "cd /tmp && install -m 755 kubelet kube-proxy /usr/local/bin/ && rm kubelet kube-proxy
install -d -m 755 $K/pki /var/lib/kubelet && install -m 644 node/ca.crt $K/pki/
install -m 600 node/*.conf $K/ && install -m 644 node/*.yaml $K/ && install -m 644 node/*.service /etc/systemd/system/
rm -rf node
systemctl daemon-reload && systemctl enable --quiet --now kubelet kube-proxy"
}
# Ready, serving certificates approved for the planned nodes only, the master labelled
step_nodes() {
  par node_one
  local t ready approved csr user labelled=0
  for ((t = 0; t < 600; t++)); do
    "${KUBECTL[@]}" get csr -o jsonpath='{range .items[*]}{.metadata.name} {.spec.signerName} {.spec.username} {.status.conditions[*].type}{"\n"}{end}' |
      while read -r csr signer user state; do
        if [[ $signer == kubernetes.io/kubelet-serving && -z $state && $user =~ ^system:node:node[0-9]+$ ]]; then
          "${KUBECTL[@]}" certificate approve "$csr" >/dev/null
        fi
      done
    if ((!labelled)) && "${KUBECTL[@]}" label node node1 node-role.kubernetes.io/master= >/dev/null 2>&1; then
      labelled=1
    fi
    ready=$("${KUBECTL[@]}" get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)
    approved=$("${KUBECTL[@]}" get csr -o jsonpath='{range .items[*]}{.spec.signerName} {.status.conditions[*].type}{"\n"}{end}' |
      grep -c '^kubernetes.io/kubelet-serving Approved' || true)
    ((ready == N && approved >= N && labelled)) && return 0
    sleep 0.5
  done
  echo "nodes: $ready Ready, $approved serving certificates after 300 s" >&2
  return 1
}

steps=(pki prep etcd network master rbac)
[[ $THROUGH == join ]] && steps+=(token nodes)
for s in "${steps[@]}"; do step "$s"; done
