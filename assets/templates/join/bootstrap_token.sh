# kubeadm's bootstrap-token phase: the kube-system Secret {{ name }} from {{ file }} (uploaded
# as a secret, 0600), created when the cluster lacks it or holds another secret under that id;
# kubewiz's older tokens removed. The token's secret half is only compared, never printed.
K="{{ kubectl }}"
file={{ file | sq }}
field() { awk -v k="$1:" '$1 == k { print $2; exit }' "$file"; }
c=0
if have=$($K -n kube-system get secret {{ name }} -o jsonpath='{.data.token-secret} {.data.expiration}' 2>/dev/null); then
  if [ "$have" = "$(field token-secret) $(field expiration)" ]; then
    echo "secret kube-system/{{ name }} is in place (expires {{ expires }})"
  else
    $K replace -f "$file" >/dev/null
    echo "secret kube-system/{{ name }} replaced (it held another token)"; c=1
  fi
else
  $K create -f "$file" >/dev/null
  echo "secret kube-system/{{ name }} created (expires {{ expires }})"; c=1
fi
# A token kubewiz made before this one (renewed near its expiry) is not needed any more.
for old in $($K -n kube-system get secrets -l app.kubernetes.io/managed-by=kubewiz \
    --field-selector type=bootstrap.kubernetes.io/token -o name); do
  if [ "$old" != secret/{{ name }} ]; then
    $K -n kube-system delete "$old" >/dev/null
    echo "deleted kubewiz's earlier token ${old#secret/}"; c=1
  fi
done
if [ $c = 1 ]; then report changed; else report unchanged; fi
