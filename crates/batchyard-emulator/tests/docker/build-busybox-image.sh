#!/bin/sh
# Builds a tiny Docker image from local files only (no registry): a root filesystem
# holding a statically linked busybox, imported with `docker import`.
# Needs the Debian package busybox-static (`apt-get install -y busybox-static`).
# Usage: build-busybox-image.sh TAG
set -eu
tag="$1"
busybox="${BUSYBOX:-}"
if [ -z "$busybox" ]; then
    for candidate in /bin/busybox /usr/bin/busybox; do
        [ -x "$candidate" ] && busybox="$candidate" && break
    done
fi
if [ -z "$busybox" ]; then
    echo "busybox not found; install the Debian package busybox-static" >&2
    exit 2
fi
if ldd "$busybox" >/dev/null 2>&1; then
    echo "$busybox is dynamically linked; install busybox-static instead of busybox" >&2
    exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp "$busybox" "$work/rootfs/bin/busybox"
for applet in sh echo cat ls env sleep true false; do
    ln -s busybox "$work/rootfs/bin/$applet"
done
echo "from-image" > "$work/rootfs/etc/marker"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
docker import "$work/rootfs.tar" "$tag" >/dev/null
