# Started with --no-block so every member starts at once: a Type=notify member only reports
# ready once a quorum has formed, so starting members one by one would time out.
{% set marker = restart_marker(unit) -%}
enable_unit {{ unit }}
if ! systemctl is-active --quiet {{ unit }}; then
  systemctl reset-failed {{ unit }} 2>/dev/null || true
  systemctl start --no-block {{ unit }}
  rm -f {{ marker }}
  echo "{{ unit }} starting"
  report changed
elif [ -f {{ marker }} ]; then
  systemctl restart --no-block {{ unit }}
  rm -f {{ marker }}
  echo "{{ unit }} restarting (its binaries, certificates or unit changed)"
  report changed
else
  report unchanged
fi
