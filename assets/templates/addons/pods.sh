# Why the pods of {{ kind }}/{{ name }} (kube-system, -l {{ selector }}) do not run, in a few
# lines the failure catalog reads. Needs K (kubectl with the admin kubeconfig).
NS=kube-system
# One line per container (init containers too) that waits: "<pod> <node> <container> <image>
# <reason> <message>"; the node is "-" while the pod is not scheduled.
{% raw -%}
POD_WAITING='{{range .items}}{{$p := .metadata.name}}{{$n := "-"}}{{with .spec.nodeName}}{{$n = .}}{{end}}{{range .status.initContainerStatuses}}{{if .state.waiting}}{{$p}} {{$n}} {{.name}} {{.image}} {{.state.waiting.reason}} {{with .state.waiting.message}}{{.}}{{end}}{{"\n"}}{{end}}{{end}}{{range .status.containerStatuses}}{{if .state.waiting}}{{$p}} {{$n}} {{.name}} {{.image}} {{.state.waiting.reason}} {{with .state.waiting.message}}{{.}}{{end}}{{"\n"}}{{end}}{{end}}{{end}}'
POD_EVENTS='{{range .items}}{{.message}}{{"\n"}}{{end}}'
{%- endraw %}
waiting() {
  $K -n $NS get pods -l {{ selector }} -o go-template="$POD_WAITING" 2>&1 || true
}
# A pull that failed: the image is not on the node and its registry did not give it.
pull_failures() {
  waiting | grep -E '^[^ ]+ [^ ]+ [^ ]+ [^ ]+ (ErrImagePull|ImagePullBackOff|ErrImageNeverPull|InvalidImageName) ' || true
}
# The waiting containers and the first failing pod's failure events, at most a dozen lines.
explain() {
  w=$(waiting)
  printf '%s\n' "$w" | head -n 6 | while read -r pod node container image reason message; do
    [ -n "$pod" ] || continue
    echo "pod $pod on node $node: container $container ($image) waiting: $reason${message:+: $message}"
  done
  pod=$(printf '%s\n' "$w" | awk 'NF { print $1; exit }')
  if [ -n "$pod" ]; then
    $K -n $NS get events --field-selector "involvedObject.name=$pod,type=Warning" \
      -o go-template="$POD_EVENTS" 2>&1 | awk 'NF && !seen[$0]++' | tail -n 4 | sed "s/^/event of pod $pod: /"
  fi
}
