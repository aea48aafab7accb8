#!/usr/bin/env bash
# Prepare the container tests on a machine that reaches no container registry:
#   1. Debian's Docker engine, docker-compose (v1) and debootstrap (apt, only what is missing),
#      and Compose v2 as the CLI plugin from Debian trixie's package (.ci/compose-v2.sh);
#   2. the engine started with its data under a temp folder (reused when one already answers);
#   3. a base image built without any registry: debootstrap a minimal Debian with Python,
#      trust the host's CA certificates (outbound HTTPS is intercepted, pip must accept it),
#      `docker import` it; the rootfs tarball is cached so a second machine run skips debootstrap;
#   4. the project image, built by the docker runtime itself on that base (same tag logic as
#      `pgo-sandbox up --runtime docker`, so the tests find it warm).
# Idempotent: every step is skipped when its result is already there. On success it writes
# $PGO_SANDBOX_DOCKER_WORK/ready; the container tests then fail instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${PGO_SANDBOX_DOCKER_WORK:-/tmp/pgo-sandbox-docker}
CACHE=${PGO_SANDBOX_CACHE:-/var/cache/pgo-sandbox}
BASE_IMAGE=${PGO_SANDBOX_BASE_IMAGE:-pgo-sandbox-base:bookworm}
SUITE=bookworm
MIRROR=${PGO_SANDBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
MARKER="$WORK/ready"
export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
export DEBIAN_FRONTEND=noninteractive

mkdir -p "$WORK" "$CACHE"
rm -f "$MARKER"
now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }
elapsed() { local d=$(($(now_ms) - $1)); printf '%d.%d' $((d / 1000)) $((d % 1000 / 100)); }
done_step() {
    echo "docker-setup: $1 ($(elapsed "$step_start") s)"
    step_start=$(now_ms)
}
setup_start=$(now_ms)
step_start=$setup_start

# --- 1. packages --------------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v docker-compose >/dev/null || missing+=(docker-compose)  # v1; v2 below
command -v curl >/dev/null || missing+=(curl)  # compose-v2.sh
command -v xz >/dev/null || missing+=(xz-utils)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    step_start=$setup_start
    done_step "installed ${missing[*]}"
else
    done_step "packages present"
fi

# Compose v2 beside v1 (bookworm has only v1): Debian trixie's package as the CLI plugin.
# Without it the container tests still run; the v2 one skips and names this line's reason.
compose_v2="ok"
if ! .ci/compose-v2.sh; then
    compose_v2="unavailable: .ci/compose-v2.sh failed (see its output above)"
    echo "docker-setup: compose v2 not installed; going on without it" >&2
fi
done_step "compose v2: $compose_v2"

# --- 2. engine ----------------------------------------------------------------------------
if docker info >/dev/null 2>&1; then
    done_step "engine already running"
else
    mkdir -p "$WORK/data"
    # an engine killed with the previous session leaves pid files behind: dockerd then refuses
    for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
        if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
            rm -f "$pidfile"
        fi
    done
    # setsid: the engine outlives this script (the tests need it) but not the CI run
    setsid dockerd --data-root "$WORK/data" --host "$DOCKER_HOST" \
        >"$WORK/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        echo "docker-setup: engine did not start; last log lines:" >&2
        tail -20 "$WORK/dockerd.log" >&2
        exit 1
    fi
    done_step "engine started (data in $WORK/data)"
fi

# --- 3. base image ------------------------------------------------------------------------
tarball="$CACHE/base-$SUITE.tar"
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    done_step "base image $BASE_IMAGE present"
else
    if [ ! -s "$tarball" ]; then
        rootfs=$(mktemp -d "$WORK/rootfs.XXXXXX")
        trap 'rm -rf "$rootfs"' EXIT
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            "$SUITE" "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
            || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
        # the host's CAs: HTTPS from inside a build is intercepted like the host's own
        cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" \
            2>/dev/null || true
        chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
        chroot "$rootfs" apt-get clean
        # what a slim image leaves out: package lists, docs, man pages, translations
        rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
            "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
            "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/*.log
        tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$rootfs"
        trap - EXIT
        done_step "debootstrap $SUITE minbase + python3 -> $tarball ($(du -h "$tarball" | cut -f1))"
    fi
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' \
        "$tarball" "$BASE_IMAGE" >/dev/null
    done_step "imported base image $BASE_IMAGE"
fi

# --- 4. project image ---------------------------------------------------------------------
# .ci/run starts this script in the background before pip has installed the project: the
# image build (which imports it) waits for pip's marker file
if [ -n "${PGO_SANDBOX_SETUP_AFTER:-}" ]; then
    for _ in $(seq 1 1800); do
        [ -f "$PGO_SANDBOX_SETUP_AFTER" ] && break
        sleep 0.5
    done
    done_step "waited for pip"
fi
export PGO_SANDBOX_BASE_IMAGE="$BASE_IMAGE"
image=$(python3 -m sandbox.runtime.docker build)
done_step "project image $image"
python3 -m sandbox.runtime.docker size "$image"
# containers of runs that were killed with the engine (they hold no ports once exited)
docker ps -aq --filter label=pgo-sandbox.project --filter status=exited | xargs -r docker rm >/dev/null

printf 'base_image=%s\nimage=%s\ncompose_v2=%s\n' "$BASE_IMAGE" "$image" "$compose_v2" >"$MARKER"
echo "docker-setup: ready in $(elapsed "$setup_start") s (marker $MARKER)"
