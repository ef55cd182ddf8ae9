# Wait up to {{ wait_secs }} s for {{ kind }}/{{ name }} to be rolled out; stop at once when its
# pods cannot get their image (an air-gapped node, an image neither in the bundle nor
# pullable), since waiting would not change that.
K="{{ kubectl }}"
{{ pods }}
component() { echo "kubewiz-component host={{ host }} name={{ component }} status=$*"; }
# Whether the runtime stage could have put an image on the nodes: the bundle's images.
image_note() {
  case "$1" in
{%- if bundle_images %}
    {% for r in bundle_images %}{{ r | sq }}{% if not loop.last %}|{% endif %}{% endfor %}) echo "$1 is in the bundle, which the runtime stage loads on every host: the node that lacks it did not get this run's runtime stage" ;;
{%- endif %}
    *) echo "$1 is not among the bundle's images (binaries.bundle_dir/images/*.tar), so the nodes have to pull it from its registry" ;;
  esac
}
start=$(date +%s)
deadline=$(( start + {{ wait_secs }} ))
if [ "$($K get nodes --no-headers 2>/dev/null | wc -l)" = 0 ]; then
  echo "no node has joined the cluster: the pods of {{ kind }}/{{ name }} cannot be scheduled (the join stage registers the nodes)" >&2
  component "no node to run on"
  exit 1
fi
seen=0
n=0
while :; do
  if out=$($K -n kube-system rollout status {{ kind }}/{{ name }} --timeout=3s 2>&1 </dev/null); then
    echo "$out after $(( $(date +%s) - start )) s"
    component ok
    break
  fi
  failed=$(pull_failures)
  # Two looks in a row: one failed pull may be a registry's hiccup, kubelet retries it.
  if [ -n "$failed" ]; then seen=$((seen + 1)); else seen=0; fi
  if [ "$seen" -ge 2 ]; then
    image=$(printf '%s\n' "$failed" | awk '{ print $4; exit }')
    reason=$(printf '%s\n' "$failed" | awk '{ print $5; exit }')
    echo "{{ kind }}/{{ name }}: image $image cannot be had on the nodes ($reason):" >&2
    explain >&2
    image_note "$image" >&2
    component "$reason: $image"
    exit 1
  fi
  now=$(date +%s)
  if [ "$now" -ge "$deadline" ]; then
    echo "{{ kind }}/{{ name }} is not rolled out after {{ wait_secs }} s: $(printf '%s' "$out" | tail -n 1)" >&2
    explain >&2
    component "not rolled out after {{ wait_secs }} s"
    exit 1
  fi
  n=$((n + 1))
  if [ $((n % 5)) = 0 ]; then
    echo "waiting for {{ kind }}/{{ name }} ($((deadline - now)) s left): $(printf '%s' "$out" | tail -n 1)"
  fi
  sleep 2
done
report unchanged
