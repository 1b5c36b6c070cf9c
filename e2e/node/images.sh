#!/usr/bin/env bash
# Builds the e2e node's images without a registry: roots from Debian's packages
# (mmdebstrap), our own PostgreSQL entrypoint, the project's pinned Node.js and the
# pause binary of e2e/tools, each written as an OCI image archive (one uncompressed
# layer) into a cache keyed by everything that decides their content.
#
#   images=$(e2e/node/images.sh PAUSE_BINARY | tail -n1)
#
# stdout: a "start" line as each image's build starts and a "built"/"cached" line
# with seconds, then the cache directory as the very last line. It holds one
# NAME.oci.tar per image and images.list ("archive reference" per line).
# stderr: mmdebstrap's own output.
#
# Needs root (mmdebstrap --mode=root), mmdebstrap, jq, sha256sum, and the host's apt
# sources naming a Debian archive (the mirror is read from them; E2E_DEBIAN_MIRROR
# overrides). Cache root: E2E_IMAGES_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/workshop-postgres/e2e-images).
set -euo pipefail

main() {
# A failed build leaves no half-made work directory behind.
trap '[[ -n "${work:-}" ]] && rm -rf "$work"' EXIT
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=images/images.env
source "$here/images/images.env"

pause_bin=${1:?usage: images.sh PAUSE_BINARY}
node_bin=$(readlink -f "$root/node_modules/node/bin/node")
[[ -x "$node_bin" ]] || { echo "images.sh: no pinned Node at node_modules/node (npm ci first)" >&2; exit 1; }
node_version=$("$node_bin" --version)

for tool in mmdebstrap jq sha256sum; do
  command -v "$tool" >/dev/null || {
    echo "images.sh: $tool is missing: apt-get install -y mmdebstrap jq" >&2
    exit 1
  }
done
[[ $(id -u) == 0 ]] || { echo "images.sh: mmdebstrap --mode=root needs root" >&2; exit 1; }

key=$(
  {
    sha256sum "$here/images.sh" "$here/images/"*
    sha256sum "$node_bin" "$pause_bin" | cut -d' ' -f1
  } | sha256sum | cut -c1-12
)
cache_root=${E2E_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/workshop-postgres/e2e-images}
dir=$cache_root/$key
mkdir -p "$dir"
t_start=$SECONDS

mirror=${E2E_DEBIAN_MIRROR:-$(debian_mirror)}
[[ -n "$mirror" ]] || { echo "images.sh: no Debian archive in the host's apt sources; set E2E_DEBIAN_MIRROR" >&2; exit 1; }

missing=()
for name in pause node postgres; do [[ -f "$dir/$name.oci.tar" ]] || missing+=("$name"); done
if ((${#missing[@]})); then
  echo "images.sh: ${#missing[@]} images to build into $dir: ${missing[*]} (measured: about 2 min and 0.5 GiB for all three, most of it downloading Debian packages)"
fi

# --- pause: the pod sandbox -------------------------------------------------------
build pause "$PAUSE_IMAGE" -- pause_root

# --- node: the alert sidecar and the watcher ------------------------------------------
build node "$NODE_IMAGE" -- node_root

# --- postgres: the official image's contract -------------------------------------------
build postgres "$POSTGRES_IMAGE $POSTGRES_IMAGE_ALT" -- postgres_root

printf '%-7s %-10s %5ss\n' total "" $((SECONDS - t_start))
: >"$dir/images.list.tmp"
echo "$dir/pause.oci.tar $PAUSE_IMAGE" >>"$dir/images.list.tmp"
echo "$dir/node.oci.tar $NODE_IMAGE" >>"$dir/images.list.tmp"
echo "$dir/postgres.oci.tar $POSTGRES_IMAGE" >>"$dir/images.list.tmp"
echo "$dir/postgres.oci.tar $POSTGRES_IMAGE_ALT" >>"$dir/images.list.tmp"
mv "$dir/images.list.tmp" "$dir/images.list"
echo "$dir"
}

# The first Debian archive URI of the host's apt sources (deb822 or one-line style).
debian_mirror() {
  {
    sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
    sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' /etc/apt/sources.list 2>/dev/null
  } | tr ' ' '\n' | grep -E '/debian/?$' | head -n1 || true
}

# build NAME "REF..." -- FUNCTION: FUNCTION writes the root as $work/rootfs.tar and the
# image config's "config" object as $work/config.json; build packs them.
build() {
  local name=$1 refs=$2 fn=$4 out=$dir/$1.oci.tar t0=$SECONDS
  if [[ -f "$out" ]]; then
    printf '%-7s %-10s %5ss\n' cached "$name" 0
    return 0
  fi
  printf '%-7s %-10s %s\n' start "$name" "$(date +%H:%M:%S)"
  work=$(mktemp -d "$dir/.work-$name.XXXXXX")
  "$fn"
  oci_archive "$work" "$refs" "$out.tmp"
  mv "$out.tmp" "$out"
  rm -rf "$work"
  work=""
  printf '%-7s %-10s %5ss\n' built "$name" $((SECONDS - t0))
}

# An OCI image layout (one layer: rootfs.tar as it is) written as a tar archive, with
# one index entry per reference (containerd's import names images from them).
oci_archive() { # work refs out
  local w=$1 refs=$2 out=$3 layer diff_id config_digest manifest_digest size
  mkdir -p "$w/oci/blobs/sha256"
  layer=$(sha256sum "$w/rootfs.tar" | cut -d' ' -f1)
  size=$(stat -c %s "$w/rootfs.tar")
  mv "$w/rootfs.tar" "$w/oci/blobs/sha256/$layer"
  diff_id=sha256:$layer
  jq -n --argjson config "$(cat "$w/config.json")" --arg diff "$diff_id" --arg by "e2e/node/images.sh ($name)" '{
    architecture: "amd64", os: "linux", config: $config,
    rootfs: { type: "layers", diff_ids: [$diff] },
    history: [{ created_by: $by, comment: "a local stand-in built from Debian packages, not an upstream image" }]
  }' >"$w/config.out"
  config_digest=$(sha256sum "$w/config.out" | cut -d' ' -f1)
  jq -n --arg cd "sha256:$config_digest" --argjson cs "$(stat -c %s "$w/config.out")" \
    --arg ld "sha256:$layer" --argjson ls "$size" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $ld, size: $ls }]
  }' >"$w/manifest.out"
  manifest_digest=$(sha256sum "$w/manifest.out" | cut -d' ' -f1)
  mv "$w/config.out" "$w/oci/blobs/sha256/$config_digest"
  local msize
  msize=$(stat -c %s "$w/manifest.out")
  mv "$w/manifest.out" "$w/oci/blobs/sha256/$manifest_digest"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$w/oci/oci-layout"
  local ref entries=()
  for ref in $refs; do
    entries+=("$(jq -n --arg d "sha256:$manifest_digest" --argjson s "$msize" --arg ref "$ref" '{
      mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
      platform: { architecture: "amd64", os: "linux" },
      annotations: { "io.containerd.image.name": $ref, "org.opencontainers.image.ref.name": ($ref | sub("^.*:"; "")) }
    }')")
  done
  printf '%s\n' "${entries[@]}" | jq -s '{ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: . }' >"$w/oci/index.json"
  tar -C "$w/oci" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$out" oci-layout index.json blobs
}

# Files left out of every Debian root: documentation, manuals, translations.
DPKG_EXCLUDES=(
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
)

pause_root() {
  mkdir -p "$work/root"
  install -m 0755 "$pause_bin" "$work/root/pause"
  tar -C "$work/root" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$work/rootfs.tar" pause
  jq -n '{ Entrypoint: ["/pause"], User: "65535:65535",
    Labels: { "workshop-e2e.stand-in": "pause of build/pause in k8s.io/kubernetes" } }' >"$work/config.json"
}

node_root() {
  # A glibc root (the npm node package's binary is built for glibc) with busybox as
  # /bin/sh, the shell of the official Alpine-based node images; user node (1000).
  SOURCE_DATE_EPOCH=0 mmdebstrap --mode=root --variant=minbase \
    --include=busybox,libstdc++6 "${DPKG_EXCLUDES[@]}" \
    --customize-hook='ln -sf busybox "$1/usr/bin/sh"' \
    --customize-hook="install -m 0755 '$node_bin' \"\$1/usr/local/bin/node\"" \
    --customize-hook='echo "node:x:1000:1000::/home/node:/bin/sh" >>"$1/etc/passwd"; echo "node:x:1000:" >>"$1/etc/group"; echo "node:!:1::::::" >>"$1/etc/shadow"; install -d -o 1000 -g 1000 "$1/home/node"' \
    "$DEBIAN_SUITE" "$work/rootfs.tar" "deb $mirror $DEBIAN_SUITE main" >&2
  jq -n --arg v "$node_version" '{
    Cmd: ["node"],
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ("NODE_VERSION=" + ($v | ltrimstr("v")))],
    Labels: { "workshop-e2e.stand-in": ("node " + $v + " from the npm node package on Debian with busybox sh") }
  }' >"$work/config.json"
}

postgres_root() {
  local pg_version_file=$work/pg-version
  # The testing release's Release file is valid for a week only, and the archive
  # reachable here is refreshed less often: its validity date is not checked (its
  # signature is).
  # A root of the testing release (see images/images.env). The postgres user and group
  # (999) exist before postgresql-common's postinst, as in the official image; no main
  # cluster is created by the packages.
  # shellcheck disable=SC2016
  SOURCE_DATE_EPOCH=0 mmdebstrap --mode=root --variant=minbase \
    --include="locales,postgresql-$POSTGRES_MAJOR" "${DPKG_EXCLUDES[@]}" \
    --essential-hook='echo "postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/bash" >>"$1/etc/passwd"; echo "postgres:x:999:" >>"$1/etc/group"; echo "postgres:!:1::::::" >>"$1/etc/shadow"' \
    --essential-hook='mkdir -p "$1/etc/postgresql-common/createcluster.d"; echo "create_main_cluster = false" >"$1/etc/postgresql-common/createcluster.d/no-main-cluster.conf"' \
    --customize-hook="chroot \"\$1\" localedef -i en_US -c -f UTF-8 en_US.UTF-8" \
    --customize-hook="sed -ri \"s!^#?(listen_addresses)\\s*=\\s*\\S+.*!\\1 = '*'!\" \"\$1/usr/share/postgresql/$POSTGRES_MAJOR/postgresql.conf.sample\"; grep -F \"listen_addresses = '*'\" \"\$1/usr/share/postgresql/$POSTGRES_MAJOR/postgresql.conf.sample\"" \
    --customize-hook="install -d -o 999 -g 999 -m 3777 \"\$1/var/run/postgresql\"; install -d -o 999 -g 999 -m 1777 \"\$1/var/lib/postgresql/$POSTGRES_MAJOR/docker\"; install -d \"\$1/docker-entrypoint-initdb.d\"" \
    --customize-hook="install -m 0755 '$here/images/postgres-entrypoint.sh' \"\$1/usr/local/bin/docker-entrypoint.sh\"; ln -s usr/local/bin/docker-entrypoint.sh \"\$1/docker-entrypoint.sh\"" \
    --customize-hook="chroot \"\$1\" dpkg-query -W -f '\${Version}' postgresql-$POSTGRES_MAJOR >'$pg_version_file'" \
    "$POSTGRES_SUITE" "$work/rootfs.tar" "deb [check-valid-until=no] $mirror $POSTGRES_SUITE main" >&2
  local pg_version
  pg_version=$(cat "$pg_version_file")
  jq -n --arg major "$POSTGRES_MAJOR" --arg v "$pg_version" '{
    Entrypoint: ["docker-entrypoint.sh"], Cmd: ["postgres"],
    Env: [("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/" + $major + "/bin"),
      "LANG=en_US.utf8", ("PG_MAJOR=" + $major), ("PG_VERSION=" + $v), ("PGDATA=/var/lib/postgresql/" + $major + "/docker")],
    ExposedPorts: { "5432/tcp": {} }, Volumes: { "/var/lib/postgresql": {} },
    StopSignal: "SIGINT",
    Labels: { "workshop-e2e.stand-in": ("PostgreSQL " + $v + " from Debian with the e2e entrypoint, not the official image") }
  }' >"$work/config.json"
  echo "images.sh: postgres image holds PostgreSQL $pg_version" >&2
}

main "$@"
exit
