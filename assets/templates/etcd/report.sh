E="/usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert={{ pki }}/ca.crt --cert={{ pki }}/healthcheck-client.crt --key={{ pki }}/healthcheck-client.key --command-timeout=5s"
echo "endpoint health:"
$E endpoint health --cluster -w table
echo "endpoint status:"
$E endpoint status --cluster -w table
echo "members:"
$E member list -w table
report unchanged
