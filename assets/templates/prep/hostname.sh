want={{ hostname | sq }}
if [ "$(hostname)" = "$want" ] && [ "$(cat /etc/hostname 2>/dev/null)" = "$want" ]; then
  report unchanged; exit 0
fi
if has hostnamectl && hostnamectl set-hostname "$want" 2>/dev/null; then :; else
  echo "$want" > /etc/hostname
  hostname "$want"
fi
echo "hostname set to $want"
report changed
