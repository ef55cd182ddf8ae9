# {{ runtime }} comes from the host's packages: kubewiz checks that they are installed and names
# the packages to install when they are not (docker's static release tarballs are not used).
missing=""
for b in {{ binaries | join(" ") }}; do
  has "$b" || missing="$missing $b"
done
if [ -n "$missing" ]; then
  if has apt-get; then
    install="apt-get install {{ apt_packages | join(" ") }}"
  elif has dnf || has yum; then
    install="dnf install {{ dnf_packages | join(" ") }}"
  else
    install="the packages of {{ runtime }} (apt: {{ apt_packages | join(" ") }}; dnf: {{ dnf_packages | join(" ") }})"
  fi
  echo "{{ runtime }} is not installed:$missing missing; install it with: $install" >&2
  exit 1
fi
{% for v in version_cmds %}echo "$({{ v }} 2>&1 | head -n 1)"
{% endfor %}report unchanged
