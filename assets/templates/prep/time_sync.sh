if ! has systemctl; then report na "no systemd on this host"; exit 0; fi
for unit in chronyd chrony ntpd ntp systemd-timesyncd; do
  has_unit $unit.service || continue
  if systemctl is-enabled --quiet $unit 2>/dev/null; then
    if systemctl is-active --quiet $unit || systemd-detect-virt --container --quiet 2>/dev/null; then
      if ! systemctl is-active --quiet $unit; then
        # In a container the unit is enabled but skipped: the host keeps the clock.
        echo "$unit is enabled; it does not run in a container, where the host keeps the clock"
      fi
      report unchanged; exit 0
    fi
  fi
  systemctl enable --now $unit
  echo "$unit enabled and started"
  report changed; exit 0
done
report na "no time sync service installed (chrony, ntp or systemd-timesyncd); clock skew breaks etcd TLS"
