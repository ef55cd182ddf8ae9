E="{{ etcdctl }}"
# The tables are for reading: a member that does not answer shows in them, and its own health
# step fails for it, so a table that cannot be complete does not fail this step (and is not
# blamed on this host).
echo "endpoint health:"
$E endpoint health --cluster -w table || echo "(not every member is healthy: see their health steps)"
echo "endpoint status:"
$E endpoint status --cluster -w table || echo "(not every member answers: see their health steps)"
echo "members:"
$E member list -w table
report unchanged
