E="{{ etcdctl }}"
echo "endpoint health:"
$E endpoint health --cluster -w table
echo "endpoint status:"
$E endpoint status --cluster -w table
echo "members:"
$E member list -w table
report unchanged
