# Each unit: enabled; started when it is not running; restarted once when its binary,
# certificates or unit changed (the restart marker); else left alone.
c=0
{% for unit in units -%}
{% set marker = restart_marker(unit) -%}
enable_unit {{ unit }}
if ! systemctl is-active --quiet {{ unit }}; then
  systemctl reset-failed {{ unit }} 2>/dev/null || true
  systemctl start {{ unit }}
  rm -f {{ marker }}
  echo "{{ unit }} started"; c=1
elif [ -f {{ marker }} ]; then
  systemctl restart {{ unit }}
  rm -f {{ marker }}
  echo "{{ unit }} restarted (its binary, certificates or unit changed)"; c=1
fi
{% endfor -%}
if [ $c = 1 ]; then report changed; else report unchanged; fi
