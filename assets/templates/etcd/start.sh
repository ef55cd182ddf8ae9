# Started with --no-block so every member starts at once: a Type=notify member only reports
# ready once a quorum has formed, so starting members one by one would time out.
systemctl enable --quiet etcd
if ! systemctl is-active --quiet etcd; then
  systemctl reset-failed etcd 2>/dev/null || true
  systemctl start --no-block etcd
  rm -f /run/kubewiz/etcd.restart
  echo "etcd starting"
  report changed
elif [ -f /run/kubewiz/etcd.restart ]; then
  systemctl restart --no-block etcd
  rm -f /run/kubewiz/etcd.restart
  echo "etcd restarting (its binaries, certificates or unit changed)"
  report changed
else
  report unchanged
fi
