# scripts/lab.d/bundle.sh — sourced by scripts/lab. LAB ONLY: the lab's release bundle.
#
# kubewiz installs from release tarballs (binaries.source: bundle). The real releases cannot be
# downloaded here, so the lab makes tarballs laid out the way the releases are, from binaries
# built elsewhere from public sources (../shared/lab-cache, see its README) and from Debian
# packages, into <repo>/.lab/bundle (the lab cluster file's binaries.bundle_dir):
#
#   etcd-vE-linux-amd64.tar.gz              etcd-vE-linux-amd64/{etcd,etcdctl}   Debian's etcd
#   kubernetes-server-linux-amd64.tar.gz    kubernetes/server/bin/{kube-apiserver,kube-controller-manager,
#                                           kube-scheduler,kubelet,kube-proxy,kubectl}   lab-cache
#   flannel-vF-linux-amd64.tar.gz           flanneld, mk-docker-opts.sh (F = 0.20.2, 0.10.0)   lab-cache
#   cni-plugins-linux-amd64-vC.tgz          ./bridge ./host-local ./loopback ./portmap ...
#                                           Debian's containernetworking-plugins, C = its version
#   images/pause-3.2.tar                    k8s.gcr.io/pause:3.2 (the pause binary from lab-cache)
#   images/busybox-B.tar                    busybox:B, Debian's busybox-static (B = its version)
#
# The images are `docker save` archives (manifest.json, config, one layer): `docker load -i` and
# `ctr images import` both take them. Everything is built once per input (the key hashes the
# input checksums, the package versions and these functions) into $CACHE/bundle-KEY, and copied
# into .lab/bundle when that holds another key. Tarballs are reproducible (sorted, fixed owner and
# time, gzip -n), so a rebuild from the same inputs gives the same sha256.

K8S_VERSION=1.20.2
FLANNEL_VERSIONS=(0.20.2 0.10.0)
K8S_SERVER_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
PAUSE_IMAGE=k8s.gcr.io/pause:3.2 # kubelet 1.20's default --pod-infra-container-image
BUNDLE_MTIME='2021-01-13 00:00:00Z' # Kubernetes v1.20.2's release day: a plausible, fixed time

# ../shared beside the repo (CI lays a copy there); from a git worktree, beside the main checkout.
shared_dir() {
  local d common
  for d in "${KUBEWIZ_LAB_SHARED:-}" "$REPO/../shared"; do
    [[ -n $d && -d $d/lab-cache ]] && { (cd "$d" && pwd -P); return 0; }
  done
  common=$(git -C "$REPO" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) || return 1
  d=$(dirname "$common")/../shared
  [[ -d $d/lab-cache ]] && (cd "$d" && pwd -P)
}

# The lab-cache folder: ../shared/lab-cache when it is there, else one built here from source
# (once, into $CACHE/lab-cache; about 45 minutes on 2 cores) with the recipe's scripts.
lab_cache_dir() {
  local s
  if s=$(shared_dir); then
    echo "$s/lab-cache"
    return 0
  fi
  lab_cache_complete "$CACHE/lab-cache" || build_lab_cache "$CACHE/lab-cache" >&2
  echo "$CACHE/lab-cache"
}

lab_cache_complete() {
  local p
  for p in $(lab_cache_parts); do [[ -f $1/$p/SHA256SUMS ]] || return 1; done
}

# The recipe's build scripts: ../shared/reference/kube (or $KUBEWIZ_LAB_RECIPE).
recipe_dir() {
  local d
  for d in "${KUBEWIZ_LAB_RECIPE:-}" "$REPO/../shared/reference/kube" \
    "$(dirname "$(git -C "$REPO" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)")/../shared/reference/kube"; do
    [[ -n $d && -x $d/build-kube.sh && -x $d/build-flannel.sh ]] && { (cd "$d" && pwd -P); return 0; }
  done
  die "no ../shared/lab-cache and no build recipe (../shared/reference/kube/build-kube.sh) beside $REPO: \
the lab needs Kubernetes $K8S_VERSION and flannel ${FLANNEL_VERSIONS[*]} binaries (set KUBEWIZ_LAB_SHARED or KUBEWIZ_LAB_RECIPE)"
}

# build_lab_cache OUT [PART...]: the lab-cache layout (a folder per part, each file gzip -9'd,
# SHA256SUMS of the uncompressed files) built from public sources: Debian's `kubernetes` source
# package with Debian's Go, and flannel's tagged source tarballs beside the recipe. PARTS default
# to every part (kubernetes-vK flannel-vF ...); naming some builds only those (to test one).
build_lab_cache() {
  local out=$1 recipe w part v t0=$EPOCHREALTIME
  shift
  local parts=("$@")
  ((${#parts[@]})) || mapfile -t parts < <(lab_cache_parts)
  recipe=$(recipe_dir)
  log "no lab-cache: building ${parts[*]} from source with $recipe (about 45 minutes on 2 cores for all)"
  ensure_pkgs golang-go make rsync bc patch gcc libc6-dev dpkg-dev
  w=${KUBEWIZ_LAB_BUILD:-$CACHE/build}
  mkdir -p "$w" "$out"
  for part in "${parts[@]}"; do
    [[ -f $out/$part/SHA256SUMS ]] && continue
    rm -rf "$w/out-$part"
    mkdir -p "$w/out-$part"
    case $part in
      kubernetes-v*)
        kube_source "$w/k8ssrc"
        "$recipe/build-kube.sh" "$w/k8ssrc" "$w/kbuild" "$w/out-$part" >&2 || die "building Kubernetes failed"
        # the pod sandbox binary, as the recipe's images.sh builds it
        gcc -Os -Wall -Werror -static -o "$w/out-$part/pause" "$w/kbuild/src/build/pause/linux/pause.c" &&
          strip "$w/out-$part/pause" || die "building pause failed"
        ;;
      flannel-v*)
        v=${part#flannel-v}
        # build-flannel.sh writes to /var/cache/kx-bin/flannel-vV: moved into the cache
        WORK=$w/fbuild "$recipe/build-flannel.sh" "$v" >&2 || die "building flannel $v failed"
        mv /var/cache/kx-bin/flannel-v"$v"/* "$w/out-$part/"
        rmdir /var/cache/kx-bin/flannel-v"$v" /var/cache/kx-bin 2>/dev/null || true
        ;;
      *) die "unknown lab-cache part $part" ;;
    esac
    (cd "$w/out-$part" && sha256sum -- * >SHA256SUMS.new) || die "summing $part"
    for f in "$w/out-$part"/*; do
      case ${f##*/} in SHA256SUMS.new) ;; *) gzip -9 -n "$f" ;; esac
    done
    mv "$w/out-$part/SHA256SUMS.new" "$w/out-$part/SHA256SUMS"
    rm -rf "${out:?}/$part"
    mv -T "$w/out-$part" "$out/$part"
    log "lab-cache part $part built ($(since "$t0") s so far)"
  done
}

# kube_source DIR: Debian's `kubernetes` source package (orig tarball + debian tarball) in DIR,
# fetched with a deb-src entry made from the host's own mirror (apt_mirror), kept apart from the
# host's apt configuration.
kube_source() {
  local d=$1 a
  ls "$d"/kubernetes_*.orig.tar.gz >/dev/null 2>&1 && return 0
  a=$(mktemp -d)
  mkdir -p "$a/lists/partial" "$d"
  printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$(apt_mirror)" "$SUITE" >"$a/src.sources"
  local opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$a" -o "Dir::State::Lists=$a/lists")
  apt-get "${opts[@]}" update -qq >&2 || die "apt-get update for the kubernetes source package failed"
  (cd "$d" && apt-get "${opts[@]}" source --download-only kubernetes >&2) || die "apt-get source kubernetes failed"
  rm -rf "$a"
}

# upstream version of an installed Debian package: 1:1.35.0-4+deb12u1 -> 1.35.0, 1.1.1+ds1-3 -> 1.1.1
deb_upstream_version() {
  dpkg-query -W -f='${Version}' "$1" | sed -E 's/^[0-9]+://; s/[-+~].*$//'
}

# the folders of lab-cache the bundle takes binaries from
lab_cache_parts() {
  local v
  echo "kubernetes-v$K8S_VERSION"
  for v in "${FLANNEL_VERSIONS[@]}"; do echo "flannel-v$v"; done
}

bundle_key() {
  local lc=$1 p
  {
    for p in $(lab_cache_parts); do echo "$p" && cat "$lc/$p/SHA256SUMS"; done
    dpkg-query -W -f='${Package} ${Version}\n' containernetworking-plugins busybox-static
    declare -f bundle_key build_bundle unpack_lab_cache reproducible_tar docker_archive busybox_rootfs
  } | sha256sum | cut -c1-16
}

# tar with sorted names, root:root and a fixed time: the same input gives the same bytes
reproducible_tar() {
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$BUNDLE_MTIME" --format=gnu "$@"
}

# unpack_lab_cache LAB_CACHE OUT: each folder gunzipped into OUT/<folder>, checked against its
# SHA256SUMS (the sums of the uncompressed files)
unpack_lab_cache() {
  local lc=$1 out=$2 p f
  for p in $(lab_cache_parts); do
    [[ -f $lc/$p/SHA256SUMS ]] || die "$lc/$p/SHA256SUMS is missing"
    mkdir -p "$out/$p"
    for f in "$lc/$p"/*; do
      case ${f##*/} in
        SHA256SUMS) ;;
        *.gz) gunzip -c "$f" >"$out/$p/$(basename "$f" .gz)" ;;
        *) cp "$f" "$out/$p/" ;;
      esac
    done
    (cd "$out/$p" && sha256sum --quiet --strict -c "$lc/$p/SHA256SUMS") ||
      die "$lc/$p: the files do not match its SHA256SUMS"
    chmod 755 "$out/$p"/*
  done
}

# docker_archive REF ROOTFS OUT CONFIG_JSON: a one-layer image as `docker save` writes it;
# CONFIG_JSON is the image's "config" object (Entrypoint, Cmd, Env ...)
docker_archive() {
  local ref=$1 root=$2 out=$3 config=$4 w diff cfg created
  created=$(date -u -d "$BUNDLE_MTIME" +%Y-%m-%dT%H:%M:%SZ)
  w=$(mktemp -d)
  mkdir "$w/img"
  # every path listed (no "./" entry, no recursion): names as `docker save` has them
  (cd "$root" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
    reproducible_tar -cf "$w/layer.tar" --no-recursion -T -) || die "packing the layer of $ref"
  diff=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
  mkdir "$w/img/$diff"
  mv "$w/layer.tar" "$w/img/$diff/layer.tar"
  printf '{"architecture":"amd64","os":"linux","created":"%s","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"%s","created_by":"kubewiz lab (scripts/lab), not an upstream image"}]}' \
    "$created" "$config" "$diff" "$created" >"$w/config.json"
  cfg=$(sha256sum "$w/config.json" | cut -d' ' -f1)
  mv "$w/config.json" "$w/img/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cfg" "$ref" "$diff" \
    >"$w/img/manifest.json"
  reproducible_tar -C "$w/img" -cf "$out" manifest.json "$cfg.json" "$diff"
  rm -rf "$w"
}

# busybox_rootfs DIR: /bin/busybox from busybox-static, a symlink per applet, passwd and group
busybox_rootfs() {
  local d=$1 a
  mkdir -p "$d/bin" "$d"/{etc,proc,sys,dev,root,var/www} "$d/tmp"
  chmod 1777 "$d/tmp"
  chmod 700 "$d/root"
  install -m 755 /bin/busybox "$d/bin/busybox"
  for a in $("$d/bin/busybox" --list); do [[ $a == busybox ]] || ln -s busybox "$d/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$d/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$d/etc/group"
}

# build_bundle LAB_CACHE OUT: every lab part into OUT (a new directory)
build_bundle() {
  local lc=$1 out=$2 w v cni bb p pids=()
  w=$(mktemp -d)
  mkdir -p "$out/images"
  unpack_lab_cache "$lc" "$w/in"
  # the biggest tarball (about 430 MB to compress) in the background, the rest meanwhile
  mkdir -p "$w/k8s/kubernetes/server/bin"
  for p in "${K8S_SERVER_BINS[@]}"; do mv "$w/in/kubernetes-v$K8S_VERSION/$p" "$w/k8s/kubernetes/server/bin/"; done
  (reproducible_tar -C "$w/k8s" -cf - kubernetes | gzip -n >"$out/kubernetes-server-linux-amd64.tar.gz") &
  pids+=($!)
  for v in "${FLANNEL_VERSIONS[@]}"; do
    reproducible_tar -C "$w/in/flannel-v$v" -cf - flanneld mk-docker-opts.sh | gzip -n >"$out/flannel-v$v-linux-amd64.tar.gz"
  done
  cni=$(deb_upstream_version containernetworking-plugins)
  mkdir -p "$w/cni"
  dpkg -L containernetworking-plugins | grep '^/usr/lib/cni/.' | while read -r p; do cp -a "$p" "$w/cni/"; done
  [[ -x $w/cni/bridge && -x $w/cni/host-local && -x $w/cni/loopback && -x $w/cni/portmap ]] ||
    die "containernetworking-plugins has no bridge, host-local, loopback or portmap in /usr/lib/cni"
  reproducible_tar -C "$w/cni" -cf - . | gzip -n >"$out/cni-plugins-linux-amd64-v$cni.tgz"
  mkdir -p "$w/pause"
  install -m 755 "$w/in/kubernetes-v$K8S_VERSION/pause" "$w/pause/pause"
  docker_archive "$PAUSE_IMAGE" "$w/pause" "$out/images/pause-${PAUSE_IMAGE##*:}.tar" '{"Entrypoint":["/pause"]}'
  bb=$(deb_upstream_version busybox-static)
  busybox_rootfs "$w/busybox"
  docker_archive "busybox:$bb" "$w/busybox" "$out/images/busybox-$bb.tar" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}'
  wait_pids "${pids[@]}" || die "packing kubernetes-server-linux-amd64.tar.gz failed"
  rm -rf "$w"
  (cd "$out" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
}

# lab parts into $STATE/bundle: built once per key in $CACHE, copied when the bundle has another key
ensure_lab_parts() {
  local lc key c t0=$EPOCHREALTIME dest=$STATE/bundle stamp f
  ensure_pkgs containernetworking-plugins busybox-static
  lc=$(lab_cache_dir)
  key=$(bundle_key "$lc")
  c=$CACHE/bundle-$key
  if [[ ! -f $c/SHA256SUMS ]]; then
    log "building the lab's release bundle once (no compiling: lab-cache binaries and Debian packages)"
    rm -rf "$c.tmp"
    mkdir -p "$CACHE"
    build_bundle "$lc" "$c.tmp"
    rm -rf "$c"
    mv -T "$c.tmp" "$c"
    log "bundle built in $(since "$t0") s: $c"
    for f in "$CACHE"/bundle-*; do [[ $f == "$c" ]] || rm -rf "$f"; done # older keys
  fi
  stamp=$dest/.lab-parts.sha256 # the SHA256SUMS of the parts now in $dest (hidden: not a tarball)
  mkdir -p "$dest/images"
  if ! cmp -s "$c/SHA256SUMS" "$stamp"; then
    if [[ -f $stamp ]]; then # the parts of another key go first (a version may have changed)
      awk '{ print $2 }' "$stamp" | while read -r f; do rm -f "$dest/$f"; done
    fi
    awk '{ print $2 }' "$c/SHA256SUMS" | while read -r f; do cp --reflink=auto "$c/$f" "$dest/$f.tmp" && mv -f "$dest/$f.tmp" "$dest/$f"; done
    (cd "$dest" && sha256sum --quiet --strict -c "$c/SHA256SUMS") || die "copying the bundle into $dest failed"
    cp "$c/SHA256SUMS" "$stamp"
    log "bundle parts copied into $dest"
  fi
}
