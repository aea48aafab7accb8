#!/usr/bin/env bash
# Compose v2 (`docker compose`) beside v1 (`docker-compose`), so the container tests run both.
# Debian bookworm ships only Compose v1 (1.29); Debian trixie's `docker-compose` package is
# Compose v2 (2.26). Its one program is also the Docker CLI plugin, so this installs that
# program as a plugin (/usr/local/lib/docker/cli-plugins) and leaves bookworm's v1 in place.
# Verified as apt would: trixie's InRelease signature with Debian's archive keyring, the
# package index by the hash InRelease gives, the .deb by the hash the index gives. Downloads
# are kept in $PGO_SANDBOX_CACHE. Idempotent: a machine that has `docker compose` skips it.
set -euo pipefail
export LC_ALL=C

if docker compose version >/dev/null 2>&1; then
    echo "compose-v2: present ($(docker compose version --short 2>/dev/null))"
    exit 0
fi
CACHE=${PGO_SANDBOX_CACHE:-/var/cache/pgo-sandbox}/compose-v2
MIRROR=${PGO_SANDBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
INDEX=main/binary-amd64/Packages.xz
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
mkdir -p "$CACHE" "$PLUGIN_DIR"

fetch() { curl -fsS --retry 2 -m 300 -o "$2.tmp" "$1" && mv "$2.tmp" "$2"; }

# the release file, signed: its hash of the package index is the one to trust (always fresh:
# a superseded .deb leaves Debian's pool)
fetch "$MIRROR/dists/$SUITE/InRelease" "$CACHE/InRelease"
gpgv --keyring "$KEYRING" "$CACHE/InRelease" 2>/dev/null \
    || { echo "compose-v2: $SUITE InRelease signature does not verify" >&2; exit 1; }
index_sha=$(awk -v f="$INDEX" '/^SHA256:/{s=1; next} /^[A-Za-z]/{s=0} s && $3 == f {print $1}' \
    "$CACHE/InRelease")
index="$CACHE/Packages-$SUITE.xz"
if ! echo "$index_sha  $index" | sha256sum -c --quiet - >/dev/null 2>&1; then
    fetch "$MIRROR/dists/$SUITE/$INDEX" "$index"
    echo "$index_sha  $index" | sha256sum -c --quiet -
fi
read -r filename deb_sha < <(xz -dc "$index" | awk '
    /^Package: /{f = ($2 == "docker-compose")} f && /^Filename:/{fn = $2}
    f && /^SHA256:/{print fn, $2; exit}')
deb="$CACHE/$(basename "$filename")"
if ! echo "$deb_sha  $deb" | sha256sum -c --quiet - >/dev/null 2>&1; then
    fetch "$MIRROR/$filename" "$deb"
    echo "$deb_sha  $deb" | sha256sum -c --quiet -
fi
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
dpkg-deb -x "$deb" "$unpacked"
install -m 0755 "$unpacked/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGIN_DIR/"
echo "compose-v2: installed $(basename "$deb") as the Docker CLI plugin" \
     "($(docker compose version --short))"
