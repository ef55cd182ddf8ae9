if ! has firewall-cmd && ! has_unit firewalld.service; then
  report na "firewalld is not installed"; exit 0
fi
if systemctl is-active --quiet firewalld || systemctl is-enabled --quiet firewalld 2>/dev/null; then
  systemctl disable --now firewalld
  echo "firewalld stopped and disabled (it blocks 2379-2380, 6443, 10250 and 8472/udp)"
  report changed
else
  report unchanged
fi
