#!/usr/bin/env bash
# Builds the pinned end-to-end toolchain (Pulumi CLI and plugins, a Kubernetes
# control plane, etcd, and a node: runc, containerd, CNI plugins, kubelet,
# kube-proxy, CoreDNS, pause) from Go modules into a cache directory keyed by the contents
# of e2e/tools/, so that changed pins rebuild and unchanged ones reuse.
#
# stdout: what a cold build costs (when anything is missing), a "start" line as
# each tool's build starts and a "built"/"cached"/"FAILED" line with seconds when
# it ends, a total, then the bin directory as the very last line:
#   bin=$(e2e/tools/build.sh | tail -n1)
# stderr: the go command's own output.
#
# Environment:
#   E2E_TOOLS_CACHE   cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/workshop-postgres/e2e-tools)
#   E2E_TOOLS_ONLY    space-separated tool names to build (default: all)
#   E2E_TOOLS_GO_P    go build -p (default 2, the machine has 2 cores)
#   E2E_TOOLS_STATUS  file that gets one line per ready tool: name, version, path,
#                     when its binary was built, the seconds of this run's build (or
#                     "cached") and when this run checked it (default e2e/tools/STATUS,
#                     untracked)
#
# runc is built with cgo and libseccomp: it needs Debian's libseccomp-dev and
# pkg-config (checked before the build; the script installs nothing itself). pause
# is compiled with gcc -static from the kubernetes module's source (libc6-dev).
set -euo pipefail

# Everything runs inside main(): bash parses the whole function before it starts,
# so editing this file while a build runs cannot derail that build.
main() {

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
# shellcheck source=versions.env
source ./versions.env

# Module versions are pinned by the committed go.mod/go.sum: never edit them here.
export GOFLAGS="-mod=readonly -buildvcs=false"
# Static binaries, as the upstream release builds make them.
export CGO_ENABLED=0
if [[ -n "${GOTOOLCHAIN_PIN:-}" ]]; then export GOTOOLCHAIN=$GOTOOLCHAIN_PIN; fi

go_version=$(go env GOVERSION)
# The key covers every file that decides what gets built (not the docs, not STATUS)
# and the Go version that builds it.
key=$(
  {
    echo "$go_version"
    find . -type f ! -name README.md ! -name STATUS ! -name '*.log' -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-12
)
cache_root=${E2E_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/workshop-postgres/e2e-tools}
dir=$cache_root/$key
bin=$dir/bin
mkdir -p "$bin" "$dir/mod" "$dir/src"
P=${E2E_TOOLS_GO_P:-2}
only=${E2E_TOOLS_ONLY:-}
status_file=${E2E_TOOLS_STATUS:-$here/STATUS}
failed=()
t_start=$SECONDS

# Measured figures, said up front before a build starts (details: README.md).
COLD_BUILD_COST="a cold build (empty Go caches, 2 cores) of the Pulumi and control-plane tools took 1569 s (26 min) on 2026-11-25 at load 4-9 and 1845 s (31 min) on 2026-12-06 at load about 8, and left 13.3 GiB (Go module cache 3.1 GiB, build cache 9.4 GiB, tools 791 MiB); the node's tools add at most 14 min and 3.9 GiB (measured alone from empty caches, 2026-12-06, load 7-10)."
WARM_RELINK_COST="1-2 min"

want() { [[ -z "$only" || " $only " == *" $1 "* ]]; }

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

status() { # name version path [seconds-of-this-build|cached]
  local tmp built=-
  tmp=$(mktemp)
  [[ -e "$3" ]] && built=$(date -u -r "$3" +%Y-%m-%dT%H:%M:%SZ)
  { [[ -f "$status_file" ]] && grep -v "^$1 " "$status_file" || true; } >"$tmp"
  echo "$1 $2 $3 built=$built build=${4:-cached} checked=$(now)" >>"$tmp"
  mv "$tmp" "$status_file"
}

report() { # start|built|cached|FAILED name version [seconds]
  if [[ "$1" == start ]]; then
    printf '%-7s %-30s %-12s %s\n' "$1" "$2" "$3" "$(date +%H:%M:%S)"
  else
    printf '%-7s %-30s %-12s %5ss\n' "$1" "$2" "$3" "$4"
  fi
}

# The committed go.mod must pin what versions.env says.
check_pin() { # wrapper module version
  local got
  got=$(cd "$here/$1" && go list -m -f '{{.Version}}' "$2")
  if [[ "$got" != "$3" ]]; then
    echo "build.sh: $1/go.mod pins $2 $got, versions.env says $3" >&2
    exit 1
  fi
}

# A build-time copy of a wrapper's go.mod/go.sum with extra replace lines, used as
# -modfile so that the committed go.mod never names a path inside the cache.
modfile_with() { # wrapper replace-lines...
  local w=$1 mf=$dir/mod/$1.go.mod
  shift
  cp "$here/$w/go.mod" "$mf"
  cp "$here/$w/go.sum" "${mf%.mod}.sum"
  local r
  for r in "$@"; do echo "replace $r" >>"$mf"; done
  echo "$mf"
}

# BUILD_CGO=1 and BUILD_TAGS="..." before the call change cgo and the build tags of
# one build (default: CGO_ENABLED=0, no tags).
build_go() { # name version wrapper package ldflags [modfile]
  local name=$1 version=$2 wrapper=$3 pkg=$4 ldflags=$5 modfile=${6:-}
  local cgo=${BUILD_CGO:-0} tags=${BUILD_TAGS:-}
  want "$name" || return 0
  local out=$bin/$name t0=$SECONDS
  if [[ -x "$out" ]]; then
    report cached "$name" "$version" 0
    status "$name" "$version" "$out"
    return 0
  fi
  report start "$name" "$version"
  if (cd "$here/$wrapper" &&
    CGO_ENABLED=$cgo go build -trimpath -p "$P" ${modfile:+-modfile="$modfile"} \
      ${tags:+-tags "$tags"} -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg"); then
    mv "$out.tmp" "$out"
    report built "$name" "$version" $((SECONDS - t0))
    status "$name" "$version" "$out" $((SECONDS - t0))
  else
    rm -f "$out.tmp"
    report FAILED "$name" "$version" $((SECONDS - t0))
    failed+=("$name")
  fi
}

# Every tool this script makes, in build order (for the up-front cost line).
ALL_TOOLS=(pulumi pulumi-resource-pulumi-nodejs pulumi-resource-kubernetes
  kube-apiserver kube-controller-manager kube-scheduler kubectl etcd
  runc containerd containerd-shim-runc-v2 ctr bridge host-local loopback portmap
  kubelet kube-proxy coredns pause)
missing=()
for t in "${ALL_TOOLS[@]}"; do
  if want "$t" && [[ ! -x "$bin/$t" ]]; then missing+=("$t"); fi
done
if ((${#missing[@]})); then
  echo "build.sh: ${#missing[@]} of ${#ALL_TOOLS[@]} tools to build into $dir: ${missing[*]}"
  echo "build.sh: $COLD_BUILD_COST"
  echo "build.sh: with warm Go caches (a new key after an edit here) every tool is relinked in about $WARM_RELINK_COST."
fi

# --- Pulumi CLI ---------------------------------------------------------------
if want pulumi; then
  check_pin pulumi github.com/pulumi/pulumi/pkg/v3 "v$PULUMI_VERSION"
  build_go pulumi "v$PULUMI_VERSION" pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
fi

# --- Dynamic-provider script ------------------------------------------------------
if want pulumi-resource-pulumi-nodejs; then
  out=$bin/pulumi-resource-pulumi-nodejs
  if [[ -x "$out" ]]; then
    report cached pulumi-resource-pulumi-nodejs "npm-sdk" 0
  else
    install -m 0755 "$here/scripts/pulumi-resource-pulumi-nodejs" "$out"
    report built pulumi-resource-pulumi-nodejs "npm-sdk" 0
  fi
  status pulumi-resource-pulumi-nodejs "(runs-node_modules/@pulumi/pulumi)" "$out"
fi

# --- Pulumi Kubernetes provider -----------------------------------------------
if want pulumi-resource-kubernetes; then
  mod=github.com/pulumi/pulumi-kubernetes/provider/v4
  check_pin pulumi-resource-kubernetes "$mod" "$KUBERNETES_PROVIDER_MODULE_VERSION"
  src=$dir/src/pulumi-kubernetes-provider
  if [[ ! -f "$src/.prepared" ]]; then
    # The module zip lacks the two generated go:embed files: copy the module out of
    # the module cache and generate them with upstream's own generate.go.
    moddir=$(cd "$here/pulumi-resource-kubernetes" &&
      go mod download "$mod" && go list -m -f '{{.Dir}}' "$mod")
    rm -rf "$src"
    cp -R "$moddir" "$src"
    chmod -R u+w "$src"
    (cd "$here/pulumi-resource-kubernetes" &&
      go build -trimpath -o "$dir/src/k8s-provider-generate" \
        "$src/cmd/pulumi-resource-kubernetes/generate.go")
    (cd "$src/cmd/pulumi-resource-kubernetes" &&
      VERSION=$KUBERNETES_PROVIDER_VERSION "$dir/src/k8s-provider-generate")
    touch "$src/.prepared"
  fi
  build_go pulumi-resource-kubernetes "$KUBERNETES_PROVIDER_VERSION" pulumi-resource-kubernetes \
    "$mod/cmd/pulumi-resource-kubernetes" \
    "-X $mod/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" \
    "$(modfile_with pulumi-resource-kubernetes "$mod => $src")"
fi

# The version every Kubernetes binary reports, as the release build stamps it (hack/lib/version.sh).
kube_ldflags() {
  local p minor=${KUBERNETES_VERSION#*.} flags=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $p.gitVersion=v$KUBERNETES_VERSION -X $p.gitMajor=${KUBERNETES_VERSION%%.*}"
    flags+=" -X $p.gitMinor=${minor%%.*} -X $p.buildDate=$KUBERNETES_BUILD_DATE"
  done
  echo "$flags"
}

# --- Kubernetes control plane -------------------------------------------------
if want kube-apiserver || want kube-controller-manager || want kube-scheduler || want kubectl; then
  check_pin kube k8s.io/kubernetes "v$KUBERNETES_VERSION"
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    build_go "$c" "v$KUBERNETES_VERSION" kube "k8s.io/kubernetes/cmd/$c" "$(kube_ldflags)"
  done
fi

# --- etcd ---------------------------------------------------------------------
if want etcd; then
  check_pin etcd go.etcd.io/etcd/server/v3 "v$ETCD_VERSION"
  # The version string is a constant in go.etcd.io/etcd/api/v3/version; only the
  # git SHA is an ldflag, and a module zip has none.
  build_go etcd "v$ETCD_VERSION" etcd go.etcd.io/etcd/server/v3 \
    "-X go.etcd.io/etcd/api/v3/version.GitSHA=module-v$ETCD_VERSION"
fi

# --- The node: runc, containerd, CNI plugins, kubelet, kube-proxy, pause -------
if want runc; then
  check_pin runc github.com/opencontainers/runc "v$RUNC_VERSION"
  if [[ ! -x "$bin/runc" ]] && ! pkg-config --exists libseccomp 2>/dev/null; then
    echo "build.sh: runc is built with cgo and seccomp and needs Debian's libseccomp-dev and pkg-config:" >&2
    echo "build.sh:   apt-get install -y libseccomp-dev pkg-config" >&2
    if [[ -n "$only" ]]; then
      report FAILED runc "v$RUNC_VERSION" 0
      failed+=(runc)
    else
      # Only the node's container runtime runs runc: the rest of the toolchain is
      # still usable, so this is said, not failed.
      report skipped runc "v$RUNC_VERSION" 0
    fi
  else
    # As upstream's Makefile, without libpathrs (a Rust library Debian 12 lacks);
    # runc reads its version from its embedded VERSION file.
    BUILD_CGO=1 BUILD_TAGS="seccomp urfave_cli_no_docs" \
      build_go runc "v$RUNC_VERSION" runc github.com/opencontainers/runc \
      "-X main.gitCommit=module-v$RUNC_VERSION"
  fi
fi

if want containerd || want containerd-shim-runc-v2 || want ctr; then
  check_pin containerd github.com/containerd/containerd/v2 "v$CONTAINERD_VERSION"
  ctrd_ld=""
  for v in "Version=v$CONTAINERD_VERSION" "Revision=module-v$CONTAINERD_VERSION" "Package=github.com/containerd/containerd/v2"; do
    ctrd_ld+=" -X github.com/containerd/containerd/v2/version.$v"
  done
  # Static, without the btrfs, devmapper and zfs snapshotters (the node uses overlayfs).
  for c in containerd containerd-shim-runc-v2 ctr; do
    BUILD_TAGS="no_btrfs no_devmapper no_zfs urfave_cli_no_docs" \
      build_go "$c" "v$CONTAINERD_VERSION" containerd "github.com/containerd/containerd/v2/cmd/$c" "$ctrd_ld"
  done
fi

check_pin_cni_done=""
for c in bridge host-local loopback portmap; do
  want "$c" || continue
  if [[ -z "$check_pin_cni_done" ]]; then
    check_pin cni-plugins github.com/containernetworking/plugins "v$CNI_PLUGINS_VERSION"
    check_pin_cni_done=1
  fi
  case $c in
    bridge | loopback) kind=main ;;
    host-local) kind=ipam ;;
    portmap) kind=meta ;;
  esac
  build_go "$c" "v$CNI_PLUGINS_VERSION" cni-plugins "github.com/containernetworking/plugins/plugins/$kind/$c" \
    "-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v$CNI_PLUGINS_VERSION"
done

if want kubelet || want kube-proxy || want pause; then
  check_pin kube-node k8s.io/kubernetes "v$KUBERNETES_VERSION"
fi
if want kubelet || want kube-proxy; then
  for c in kubelet kube-proxy; do
    build_go "$c" "v$KUBERNETES_VERSION" kube-node "k8s.io/kubernetes/cmd/$c" "$(kube_ldflags)"
  done
fi

if want coredns; then
  check_pin coredns github.com/coredns/coredns "v$COREDNS_VERSION"
  # Its own main (coredns/main.go): upstream's links every plugin and their cloud SDKs.
  build_go coredns "v$COREDNS_VERSION" coredns . "-X github.com/coredns/coredns/coremain.GitCommit=module-v$COREDNS_VERSION"
fi

if want pause; then
  out=$bin/pause
  if [[ -x "$out" ]]; then
    report cached pause "$PAUSE_VERSION" 0
    status pause "$PAUSE_VERSION" "$out"
  else
    report start pause "$PAUSE_VERSION"
    t0=$SECONDS
    # The pod sandbox's process, from build/pause/linux/pause.c of the kubernetes module
    # the kubelet is built from; its Makefile's TAG must be the pinned version.
    kdir=$(cd "$here/kube-node" && go mod download k8s.io/kubernetes && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
    tag=$(sed -n 's/^TAG ?= //p' "$kdir/build/pause/Makefile")
    if [[ "$tag" != "$PAUSE_VERSION" ]]; then
      echo "build.sh: k8s.io/kubernetes v$KUBERNETES_VERSION builds pause $tag, versions.env says $PAUSE_VERSION" >&2
      exit 1
    fi
    if gcc -Os -Wall -Werror -static "-DVERSION=v$PAUSE_VERSION-module-v$KUBERNETES_VERSION" \
      -o "$out.tmp" "$kdir/build/pause/linux/pause.c" && strip "$out.tmp"; then
      mv "$out.tmp" "$out"
      report built pause "$PAUSE_VERSION" $((SECONDS - t0))
      status pause "$PAUSE_VERSION" "$out" $((SECONDS - t0))
    else
      rm -f "$out.tmp"
      report FAILED pause "$PAUSE_VERSION" $((SECONDS - t0))
      failed+=(pause)
    fi
  fi
fi

report total "" "" $((SECONDS - t_start))
status bin-dir "$key" "$bin"
if ((${#failed[@]})); then
  echo "build.sh: failed: ${failed[*]}" >&2
  echo "$bin"
  exit 1
fi
echo "$bin"
}

main "$@"
exit
