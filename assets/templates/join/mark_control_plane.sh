# kubeadm's mark-control-plane: masters labelled {{ master_labels | join(", ") }}; those that are
# not also nodes tainted {{ taint }}:NoSchedule (and the taint removed from those that are);
# nodes labelled {{ node_label }} so `kubectl get nodes` shows every role.
K="{{ kubectl }}"
c=0
# Every node's labels and taints in one read (a kubectl call per check made a rerun slow), one
# line each: `NAME labels={"k":"v",...} taints=,KEY:EFFECT,...`.
state=$($K get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" labels="}{.metadata.labels}{" taints=,"}{range .spec.taints[*]}{.key}:{.effect},{end}{"\n"}{end}') || exit 1
node_line() { printf '%s\n' "$state" | grep "^$1 labels="; }
label() { # node key
  if ! node_line "$1" | grep -qF "\"$2\":\"\""; then
    $K label node "$1" "$2=" --overwrite >/dev/null; echo "labelled $1 $2"; c=1
  fi
}
tainted() { node_line "$1" | grep -qF ",{{ taint }}:NoSchedule,"; }
{% for m in masters -%}
{% for l in master_labels %}label {{ m.name }} {{ l }}
{% endfor -%}
{% if m.node -%}
if tainted {{ m.name }}; then $K taint node {{ m.name }} {{ taint }}:NoSchedule- >/dev/null; echo "untainted {{ m.name }} (it is a node too)"; c=1; fi
{% else -%}
if ! tainted {{ m.name }}; then $K taint node {{ m.name }} {{ taint }}=:NoSchedule --overwrite >/dev/null; echo "tainted {{ m.name }} {{ taint }}:NoSchedule"; c=1; fi
{% endif -%}
{% endfor -%}
{% for n in nodes %}label {{ n }} {{ node_label }}
{% endfor -%}
if [ $c = 1 ]; then report changed; else report unchanged; fi
