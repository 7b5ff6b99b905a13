#!/usr/bin/env bash
# Build roadside's images from the local Debian base (made first when missing):
# localhost/roadside-etcd, localhost/roadside-central (central and workers) and
# localhost/roadside-agent. Run from anywhere; needs podman and debootstrap (as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
"$here/base-image.sh"
ca=/etc/ssl/certs/ca-certificates.crt   # pip in the build trusts what this machine trusts
for image in etcd central agent; do
  echo "building localhost/roadside-$image"
  podman build --pull=never --network host -q \
    ${ca:+-v "$ca:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt} \
    -f "$here/Containerfile.$image" -t "localhost/roadside-$image" "$here/.." >/dev/null
done
