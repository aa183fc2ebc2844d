#!/usr/bin/env bash
# Build the guest for the real-kernel tests: a Debian kernel, a tiny busybox initramfs and a
# bookworm ext4 root with systemd, all cached under .cache/vm/ keyed by their inputs.
#
#   bash test/vm/build-image.sh [--deb PATH] [--print-env]
#
# Prints (last line, or as shell assignments with --print-env) the kernel, initrd and image paths.
# Runs as root (debootstrap, chroot); never touches this machine's /boot, /lib/modules or /sys.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${VM_CACHE:-$REPO/.cache/vm}
SUITE=bookworm
MIRROR=${VM_MIRROR:-http://deb.debian.org/debian}
# Everything the guest needs at run time; nodejs is Debian's own (18.19 in bookworm).
INCLUDE=systemd,systemd-sysv,dbus,udev,kmod,pciutils,iproute2,nodejs,ca-certificates
DEB=""
PRINT_ENV=0
while [ $# -gt 0 ]; do
  case $1 in
    --deb) DEB=$(realpath "$2"); shift 2 ;;
    --print-env) PRINT_ENV=1; shift ;;
    *) echo "build-image.sh: unknown argument '$1' (use --deb PATH, --print-env)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "build-image.sh: must run as root (debootstrap and chroot)" >&2; exit 2; }
for tool in debootstrap mkfs.ext4 busybox zstd apt-get dpkg; do
  command -v "$tool" >/dev/null || { echo "build-image.sh: '$tool' missing: apt-get install qemu-system-x86 debootstrap e2fsprogs busybox-static zstd socat" >&2; exit 2; }
done
mkdir -p "$CACHE"
log() { echo "[build-image $(date +%T)] $*" >&2; }
short_hash() { sha256sum | cut -c1-16; }

# --- kernel: the package linux-image-amd64 points at, extracted (never installed) ----------
kernel_pkg=${VM_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')}
if [ -z "$kernel_pkg" ]; then
  # No package lists (offline): fall back to the newest kernel already in the cache.
  kernel_dir=$(ls -d "$CACHE"/kernel-*/ 2>/dev/null | sort -V | tail -1)
  [ -n "$kernel_dir" ] || { echo "build-image.sh: no kernel package known (run apt-get update) and none cached in $CACHE" >&2; exit 1; }
  kernel_dir=${kernel_dir%/}
else
  kernel_ver=$(apt-cache policy "$kernel_pkg" | awk '/Candidate:/ {print $2}')
  kernel_dir=$CACHE/kernel-${kernel_pkg}_${kernel_ver}
fi
if [ ! -e "$kernel_dir/.done" ]; then
  log "fetching $kernel_pkg $kernel_ver"
  rm -rf "$kernel_dir" "$kernel_dir.tmp"; mkdir -p "$kernel_dir.tmp"
  (cd "$kernel_dir.tmp" && apt-get download -q "$kernel_pkg=$kernel_ver" >/dev/null 2>&1 && dpkg -x ./*.deb x && rm -f ./*.deb)
  mv "$kernel_dir.tmp/x" "$kernel_dir"; rm -rf "$kernel_dir.tmp"; touch "$kernel_dir/.done"
fi
KVER=$(ls "$kernel_dir/lib/modules")
VMLINUZ=$kernel_dir/boot/vmlinuz-$KVER

# --- base root: debootstrap once, kept as a tarball ------------------------------------------
base_key=$(printf '%s\n' "$SUITE" "$MIRROR" "$INCLUDE" minbase | short_hash)
BASE=$CACHE/base-$SUITE-$base_key.tar.zst
if [ ! -e "$BASE" ]; then
  log "debootstrap $SUITE (minbase + $INCLUDE), once; cached as $(basename "$BASE")"
  tmp=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$tmp/root" "$MIRROR" >"$tmp/log" 2>&1 ||
    { tail -30 "$tmp/log" >&2; cat "$tmp/root/debootstrap/debootstrap.log" 2>/dev/null | tail -30 >&2; exit 1; }
  rm -rf "$tmp/root/var/cache/apt/archives/"*.deb
  tar -C "$tmp/root" --numeric-owner --xattrs -cf - . | zstd -q -T0 -3 -o "$BASE.tmp"
  mv "$BASE.tmp" "$BASE"
  rm -rf "$tmp"; trap - EXIT
fi

# --- image: base + kernel modules + test runner (+ the .deb), keyed by all of them ----------
deb_key=none
[ -z "$DEB" ] || deb_key=$(sha256sum <"$DEB" | cut -c1-16)
guest_key=$(cd "$HERE" && cat build-image.sh initramfs/init $(find guest -type f | sort) | short_hash)
img_key=$(printf '%s\n' "$base_key" "$KVER" "$(cat "$kernel_dir/.done" 2>/dev/null; basename "$kernel_dir")" "$guest_key" "$deb_key" | short_hash)
IMAGE=$CACHE/rootfs-$img_key.ext4
INITRD=$CACHE/initrd-$img_key.cpio.gz

if [ ! -e "$IMAGE" ] || [ ! -e "$INITRD" ]; then
  work=$(mktemp -d "$CACHE/image.XXXXXX")
  trap 'umount -R "$work/root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
  root=$work/root; mkdir -p "$root"
  log "unpacking base"
  zstd -q -d -c "$BASE" | tar -C "$root" --numeric-owner --xattrs -xf -

  log "kernel modules $KVER + depmod"
  mkdir -p "$root/lib/modules"
  cp -a "$kernel_dir/lib/modules/$KVER" "$root/lib/modules/"
  chroot "$root" depmod "$KVER"
  # /boot/config-<release> as Debian installs it: the daemon's IOMMU check reads the kernel's defaults.
  mkdir -p "$root/boot"; cp "$kernel_dir/boot/config-$KVER" "$root/boot/"

  log "test runner, units, network"
  cp -a "$HERE/guest/." "$root/"
  chmod 0755 "$root/usr/local/lib/vm-test/"*.sh
  echo vmtest >"$root/etc/hostname"
  printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
  : >"$root/etc/machine-id"
  mkdir -p "$root/var/log/journal"          # persistent: the reboot scenario reads the previous boot
  chroot "$root" systemctl enable -q systemd-networkd.service vm-share.service vm-runner.service pve-guests.service
  # Nothing logs in: the serial line is for the kernel and systemd's own status output.
  chroot "$root" systemctl mask -q serial-getty@ttyS0.service getty@tty1.service \
    systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service 2>/dev/null || true

  if [ -n "$DEB" ]; then
    log "installing $(basename "$DEB") with apt inside the image"
    cp "$DEB" "$root/tmp/under-test.deb"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc"
    # No running systemd in a chroot: deb-systemd-invoke skips starting, enabling still happens.
    chroot "$root" sh -c 'export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q --no-install-recommends /tmp/under-test.deb >/tmp/apt.log 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends /tmp/under-test.deb >/tmp/apt.log 2>&1; }' ||
      { cat "$root/tmp/apt.log" >&2; exit 1; }
    umount "$root/proc"
    rm -f "$root/tmp/under-test.deb" "$root/tmp/apt.log" "$root/etc/resolv.conf"
    rm -rf "$root/var/cache/apt/archives/"*.deb
  fi

  log "initramfs (busybox + virtio/ext4 modules)"
  build_initramfs() {
    local ir=$work/initramfs
    mkdir -p "$ir/bin" "$ir/dev" "$ir/proc" "$ir/sys" "$ir/newroot" "$ir/lib/modules"
    cp "$(command -v busybox)" "$ir/bin/busybox"
    cp "$HERE/initramfs/init" "$ir/init"; chmod 0755 "$ir/init"
    # Load order: each module after its dependencies, from the image's own modules.dep.
    local deps=$root/lib/modules/$KVER/modules.dep order=()
    declare -A seen=()
    visit() {
      local mod=$1 line dep
      [ -n "${seen[$mod]:-}" ] && return; seen[$mod]=1
      line=$(grep -E "(^|/)$mod:" "$deps" | head -1)
      [ -n "$line" ] || { echo "build-image.sh: module $mod not in $deps" >&2; exit 1; }
      for dep in ${line#*:}; do visit "$(basename "$dep")"; done
      order+=("${line%%:*}")
    }
    # 9p too: loaded here it costs nothing, loaded later it waits behind udev's module storm.
    for m in virtio.ko virtio_ring.ko virtio_pci.ko virtio_blk.ko crc32c_generic.ko crc32c-intel.ko ext4.ko \
      9pnet_virtio.ko 9p.ko; do visit "$m"; done
    for path in "${order[@]}"; do
      cp "$root/lib/modules/$KVER/$path" "$ir/lib/modules/"
      basename "$path" >>"$ir/lib/modules/order"
    done
    (cd "$ir" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
  }
  build_initramfs

  log "ext4 image (mkfs.ext4 -d, no loop mount)"
  rm -f "$IMAGE.tmp"
  mkfs.ext4 -q -F -L vmroot -d "$root" "$IMAGE.tmp" 3G >/dev/null
  mv "$IMAGE.tmp" "$IMAGE"
  rm -rf "$work"; trap - EXIT
  log "image ready: $(basename "$IMAGE")"
  # Keep the four newest images (about 0.8 GB each on disk); older keys are stale inputs.
  for old in $(ls -t "$CACHE"/rootfs-*.ext4 | tail -n +5); do rm -f "$old" "${old%.ext4}.cpio.gz" "$CACHE/initrd-$(basename "${old%.ext4}" | sed 's/^rootfs-//').cpio.gz"; done
fi

if [ "$PRINT_ENV" = 1 ]; then
  printf 'VM_KERNEL=%q\nVM_INITRD=%q\nVM_IMAGE=%q\nVM_KVER=%q\n' "$VMLINUZ" "$INITRD" "$IMAGE" "$KVER"
else
  echo "$VMLINUZ $INITRD $IMAGE"
fi
