#!/usr/bin/env bash
# The images' base: a minimal Debian bookworm made here with debootstrap (no registry is
# needed), imported as localhost/roadside-base:bookworm. Skipped when that image exists.
# usage: deploy/base-image.sh [MIRROR]   (default: the mirror apt uses on this machine)
set -euo pipefail
IMAGE=localhost/roadside-base:bookworm
if podman image exists "$IMAGE"; then
  echo "base image $IMAGE: present"
  exit 0
fi
mirror=${1:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
echo "base image $IMAGE: debootstrap bookworm from $mirror (a few minutes)"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  tail -20 "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"
tar -C "$rootfs" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$IMAGE"
