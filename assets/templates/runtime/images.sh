# Load the image archives (`docker save` format) into {{ runtime }}, each only when one of its
# references (RepoTags in its manifest.json) is missing. Nothing is ever pulled.
{% if source == "installed" -%}
report na "binaries.source: installed: no image archives to load (the hosts must already have {{ pause }})"
{%- else -%}
present() {
{% if runtime == "docker" %}  docker image inspect "$1" >/dev/null 2>&1
{% else %}  # ctr names an imported `busybox:1` docker.io/library/busybox:1, as docker would.
  n=$1
  case "$n" in
    */*) case "${n%%/*}" in *.*|*:*|localhost) ;; *) n=docker.io/$n ;; esac ;;
    *) n=docker.io/library/$n ;;
  esac
  ctr -n k8s.io images ls -q | grep -qxF -e "$1" -e "$n"
{% endif %}}
c=0
{% for a in archives -%}
f={{ a.path | sq }}
{% if source == "mirror" -%}
if ! tar -tf "$f" manifest.json >/dev/null 2>&1; then
  mkdir -p "$(dirname "$f")"
  echo "downloading {{ a.url }}"
  if ! out=$(curl -fsSL --retry 3 -o "$f.part" {{ a.url | sq }} 2>&1); then
    echo "cannot download {{ a.url }}: $out" >&2; exit 1
  fi
  mv -f "$f.part" "$f"
fi
{% endif -%}
refs=$(tar -xOf "$f" manifest.json | grep -o '"RepoTags":\[[^]]*\]' | sed -e 's/"RepoTags":\[//' -e 's/\]$//' | tr ',' '\n' | tr -d '" ')
if [ -z "$refs" ]; then
  echo "$f names no image (no RepoTags in its manifest.json): save it with \`docker save NAME:TAG\`" >&2
  exit 1
fi
missing=""
for r in $refs; do present "$r" || missing="$missing $r"; done
if [ -n "$missing" ]; then
{% if runtime == "docker" %}  if ! out=$(docker load -i "$f" 2>&1); then
{% else %}  if ! out=$(ctr -n k8s.io images import "$f" 2>&1); then
{% endif %}    echo "cannot load $f: $out" >&2; exit 1
  fi
  for r in $refs; do
    if ! present "$r"; then echo "$f was loaded but $r is still missing: $out" >&2; exit 1; fi
  done
  echo "loaded:$missing (from $(basename "$f"))"; c=1
else
  echo "present: $(echo $refs)"
fi
{% endfor -%}
if [ $c = 1 ]; then report changed; else report unchanged; fi
{%- endif %}
