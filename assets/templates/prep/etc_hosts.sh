begin='{{ begin_marker }}'
end='{{ end_marker }}'
block=$(cat <<'HOSTS'
{{ begin_marker }}
{% for h in hosts %}{{ h.address }} {{ h.name }}
{% endfor %}{{ end_marker }}
HOSTS
)
current=$(sed -n "/^$begin\$/,/^$end\$/p" /etc/hosts 2>/dev/null || true)
if [ "$current" = "$block" ]; then report unchanged; exit 0; fi
tmp=$(mktemp /etc/.hosts.kubewiz.XXXXXX)
sed "/^$begin\$/,/^$end\$/d" /etc/hosts > "$tmp" 2>/dev/null || true
printf '%s\n' "$block" >> "$tmp"
chmod 644 "$tmp"
# /etc/hosts is sometimes a bind mount (containers): rename fails there, so copy instead.
mv -f "$tmp" /etc/hosts 2>/dev/null || { cat "$tmp" > /etc/hosts; rm -f "$tmp"; }
echo "/etc/hosts lists the {{ hosts | length }} cluster hosts"
report changed
