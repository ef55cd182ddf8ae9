c=0
if [ "$(awk 'NR > 1' /proc/swaps | wc -l)" -gt 0 ]; then
  if ! out=$(swapoff -a 2>&1); then
    echo "swap is on and swapoff -a failed: $out" >&2; exit 1
  fi
  echo "swap turned off"; c=1
fi
# fstab: a non-comment line whose third field is "swap".
if [ -f /etc/fstab ] && awk '$1 !~ /^#/ && $3 == "swap" { found = 1 } END { exit !found }' /etc/fstab; then
  cp -p /etc/fstab /etc/fstab.kubewiz.bak
  sed -Ei 's@^([^#[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+swap([[:space:]].*)?)$@# kubewiz (kubelet needs swap off): \1@' /etc/fstab
  echo "swap entries commented out in /etc/fstab (backup in /etc/fstab.kubewiz.bak)"; c=1
fi
if [ $c = 1 ]; then report changed; else report unchanged; fi
