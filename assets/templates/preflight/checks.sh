# Preflight: read-only checks, one line each: RESULT CHECK DETAIL. Nothing on the host changes.
# FAIL lines are errors (the stage fails) unless their check is in the ignore list;
# WARN lines are warnings that a later stage fixes or that deserve a look.
ignore=' {{ ignore | join(" ") }} '
fails=0
line() { printf '%-7s %-13s %s\n' "$1" "$2" "$3"; }
pass() { line PASS "$1" "$2"; }
warn() { line WARN "$1" "$2"; }
fail() {
  case "$ignore" in
    *" $1 "*|*" all "*) line IGNORED "$1" "$2" ;;
    *) line FAIL "$1" "$2"; fails=$((fails + 1)) ;;
  esac
}

# kernel: Kubernetes needs >= 4.19 for its current features; < 3.10 does not work at all.
k=$(uname -r); maj=${k%%.*}; rest=${k#*.}; min=${rest%%[!0-9]*}
if [ "$maj" -lt 3 ] || { [ "$maj" -eq 3 ] && [ "$min" -lt 10 ]; }; then fail kernel "$k is older than 3.10"
elif [ "$maj" -lt 4 ] || { [ "$maj" -eq 4 ] && [ "$min" -lt 19 ]; }; then warn kernel "$k is older than 4.19"
else pass kernel "$k"; fi

# cgroups: the memory, cpu and pids controllers, v1 or v2.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  ctl=$(cat /sys/fs/cgroup/cgroup.controllers); v=v2
else
  ctl=$(ls /sys/fs/cgroup 2>/dev/null | tr '\n' ' '); v=v1
fi
missing=""
for c in cpu memory pids; do case " $ctl " in *" $c "*|*" $c,"*|*",$c "*) ;; *) missing="$missing $c" ;; esac; done
if [ -z "$missing" ]; then pass cgroups "$v with cpu, memory, pids"; else fail cgroups "$v without:$missing"; fi

# hostname: prep sets it; here only say what will happen.
want={{ hostname | sq }}
if [ "$(hostname)" = "$want" ]; then pass hostname "$want"; else pass hostname "$(hostname), prep renames it to $want"; fi

# commands the stages use.
missing=""
for c in sh systemctl tar sha256sum mktemp install awk sed ss cmp; do has $c || missing="$missing $c"; done
if [ -z "$missing" ]; then pass commands "all present"; else fail commands "missing:$missing"; fi

# ports for this host's roles ({{ roles | join(", ") }}); kubewiz's own running services may hold theirs.
# One listing and one MainPID per unit, read once: `ss -p` walks /proc, and a systemctl call per
# port and unit made this the slowest check of a rerun.
listening=$(ss -Htlnp 2>/dev/null)
own_pids=""
for unit in {{ own_units | join(" ") }}; do
  own_pids="$own_pids $unit=$(systemctl show -p MainPID --value "$unit" 2>/dev/null || echo 0)"
done
for p in {{ ports | join(" ") }}; do
  line=$(printf '%s\n' "$listening" | awk -v p=":$p" 'substr($4, length($4) - length(p) + 1) == p' | head -n 1)
  if [ -z "$line" ]; then
    pass "port-$p" "free"
    continue
  fi
  holder=$(printf '%s\n' "$line" | sed -n 's/.*users:((\("[^"]*"\),pid=\([0-9]*\).*/\1 (pid \2)/p')
  own=""
  for up in $own_pids; do
    unit=${up%%=*}; pid=${up#*=}
    case "$holder" in *"pid $pid)"*) [ "$pid" != 0 ] && own=$unit ;; esac
  done
  if [ -n "$own" ]; then pass "port-$p" "held by kubewiz's $own"; else fail "port-$p" "in use by ${holder:-another process}"; fi
done

# swap, SELinux, firewalld: prep fixes these.
if [ "$(awk 'NR > 1' /proc/swaps | wc -l)" -gt 0 ]; then warn swap "on (prep turns it off)"; else pass swap "off"; fi
if has getenforce && [ "$(getenforce)" = Enforcing ]; then warn selinux "enforcing (prep sets permissive)"; else pass selinux "not enforcing"; fi
if has systemctl && systemctl is-active --quiet firewalld 2>/dev/null; then warn firewalld "active (prep stops it)"; else pass firewalld "not active"; fi

# disk: at least 2 GiB free where etcd and the binaries go; memory: 1 GiB (2 GiB for masters).
free_kb=$(df -Pk /var 2>/dev/null | awk 'NR == 2 { print $4 }')
if [ "${free_kb:-0}" -lt 2097152 ]; then fail disk "$((${free_kb:-0} / 1024)) MiB free on /var, needs 2048"
else pass disk "$((free_kb / 1048576)) GiB free on /var"; fi
mem_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
if [ "$mem_kb" -lt {{ min_mem_kb }} ]; then fail memory "$((mem_kb / 1024)) MiB, needs $(({{ min_mem_kb }} / 1024))"
else pass memory "$((mem_kb / 1024)) MiB"; fi

if [ $fails -gt 0 ]; then
  echo "$fails preflight check(s) failed; fix them, or skip with --ignore-preflight-errors=<check>[,<check>]" >&2
  exit 1
fi
report unchanged
