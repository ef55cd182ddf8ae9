if ! has getenforce && [ ! -f /etc/selinux/config ]; then
  report na "SELinux is not installed"; exit 0
fi
c=0
if has getenforce && [ "$(getenforce)" = Enforcing ]; then
  setenforce 0
  echo "SELinux switched to permissive for this boot"; c=1
fi
if [ -f /etc/selinux/config ] && grep -q '^SELINUX=enforcing' /etc/selinux/config; then
  sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' /etc/selinux/config
  echo "SELinux set to permissive in /etc/selinux/config"; c=1
fi
if [ $c = 1 ]; then report changed; else report unchanged; fi
