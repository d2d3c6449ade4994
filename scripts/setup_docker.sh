#!/usr/bin/env bash
# Make a Docker engine and smdbg's base image available for the platform jobs' Docker backend.
# Idempotent: installs docker.io and debootstrap if missing, starts dockerd if no engine answers,
# and builds the image only when it is not there yet. Needs root and Debian's package mirror.
#   IMAGE (default smdbg-base:bookworm)   SUITE (default bookworm)
set -euo pipefail

IMAGE="${IMAGE:-smdbg-base:bookworm}"
SUITE="${SUITE:-bookworm}"
LOG="${DOCKERD_LOG:-/var/log/smdbg-dockerd.log}"

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "setup_docker: installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  echo "setup_docker: a Docker engine already answers (left as it is)"
else
  echo "setup_docker: starting dockerd (log: $LOG)"
  mkdir -p "$(dirname "$LOG")"
  nohup dockerd >"$LOG" 2>&1 &
  echo "setup_docker: dockerd started, pid $! (run from scripts/test.sh, it is stopped at the end of the run)"
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "setup_docker: dockerd did not start; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
fi

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "setup_docker: image $IMAGE present"
  exit 0
fi

# A minimal Debian root filesystem (same release as the host, so the host's Python and the
# virtualenv, bind-mounted read-only at run time, find the same glibc and libraries).
work="$(mktemp -d /tmp/smdbg-rootfs.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# The Debian mirror this machine's apt already uses (deb822 .sources files, else sources.list).
MIRROR="${MIRROR:-$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n 1)}"
[ -n "$MIRROR" ] || MIRROR="$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -n 1)"
[ -n "$MIRROR" ] || { echo "setup_docker: no Debian mirror configured for apt; set MIRROR=<url>" >&2; exit 1; }
echo "setup_docker: debootstrap $SUITE into $work from apt's mirror (a few minutes; its phases follow)"
debootstrap --variant=minbase \
  --include=libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libgomp1,libstdc++6,libreadline8,libncursesw6,libuuid1,procps,ca-certificates \
  "$SUITE" "$work/rootfs" "$MIRROR" 2>&1 | tee "$work/debootstrap.log" \
  | { grep --line-buffered -vE '^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) [a-z0-9]'; [ $? -le 1 ]; } \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
mkdir -p "$work/rootfs/opt/ml"
tar -C "$work/rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'WORKDIR /' - "$IMAGE" >/dev/null
echo "setup_docker: built $IMAGE"
