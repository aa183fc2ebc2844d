#!/usr/bin/env bash
# npm run test:initramfs (root): our initramfs-tools hook with Debian's real initramfs-tools.
#
# In a bookworm chroot with initramfs-tools (klibc only, no busybox: the smallest toolset the helper
# must run with), the VM guest's kernel modules and our .deb installed:
#   1. update-initramfs -c -k KVER builds the distribution's initramfs before any device is configured;
#      the admin's /etc/initramfs-tools/modules loads bochs and snd_hda_intel there (early KMS);
#   2. with the GPU pair configured, `pcie-passthroughctl --root CHROOT initramfs` must call that image
#      stale, naming both devices and their host modules (found through the real modules.alias), exit 1;
#   3. `pcie-passthroughctl --root CHROOT initramfs --update` (update-initramfs run chrooted) rebuilds it
#      and then calls it current, exit 0;
#   4. unmkinitramfs: the image carries the claims file (identical to the daemon's), the in-initramfs
#      marker, the helper, the udev rule, vfio-pci with vfio and vfio_iommu_type1, and our init-top script
#      ordered before udev's in the ORDER file mkinitramfs wrote;
#   5. the helper from the image runs under the image's own /bin/sh (chroot into the unpacked image) on a
#      fake sysfs: driver_override of both functions is vfio-pci, records say stage initramfs-boot.
# Booting that image on the real kernel is VM scenario 13 (test/vm/scenarios/13-real-initramfs), which
# runs this script with --out.
#
# Facts the CLI reads are files in the chroot's /proc and /sys (a QEMU-like GPU + HDA pair, one IOMMU
# group); nothing is mounted while the CLI runs. Installing the packages mounts a read-only procfs in a
# private mount namespace (unshare -m), never sysfs.
#
# Options: --deb PATH (default: one built from this tree into .cache/initramfs/deb/),
#          --kernel-dir DIR (an extracted linux-image package; default the newest .cache/vm/kernel-*),
#          --out FILE (copy the rebuilt initramfs there).
# Environment: INITRAMFS_TEST_CACHE=DIR (default .cache/initramfs), BASE=TARBALL (a bookworm root with
# nodejs, udev, kmod, dbus; default the VM harness's .cache/vm/base-bookworm-*.tar.zst), MIRROR=URL.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${INITRAMFS_TEST_CACHE:-$repo/.cache/initramfs}
mirror=${MIRROR:-http://deb.debian.org/debian}
recipe_version=1
tarball=$cache/initramfs-tools-bookworm-v$recipe_version.tar.zst
DEB="" KDIR="" OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --deb) DEB=$(realpath "$2"); shift 2 ;;
    --kernel-dir) KDIR=$(realpath "$2"); shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "real-mkinitramfs: unknown argument '$1' (--deb PATH, --kernel-dir DIR, --out FILE)" >&2; exit 2 ;;
  esac
done

say() { printf '== %s\n' "$*" >&2; }
fail() { echo "real-mkinitramfs: FAIL: $*" >&2; exit 1; }
ok() { echo "  ok    $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
[ "$(id -u)" = 0 ] || fail "must run as root (chroot)"
for tool in zstd tar chroot unshare node; do command -v "$tool" >/dev/null || fail "'$tool' missing"; done

# in_ns ROOT SCRIPT: run SCRIPT (bash) with a read-only procfs on ROOT/proc, in a private mount namespace.
in_ns() {
  unshare -m bash -euo pipefail -c '
    root=$1; shift
    mount -t proc -o ro,nosuid,nodev,noexec proc "$root/proc"
    run() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
    eval "$1"
    umount "$root/proc"
  ' _ "$1" "$2"
}

build_cache() {
  local tmp=$1 root=$1/root base
  mkdir -p "$root"
  base=${BASE:-$(ls "$repo"/.cache/vm/base-bookworm-*.tar.zst 2>/dev/null | head -n1 || true)}
  if [ -n "$base" ] && [ -e "$base" ]; then
    say "unpacking $(basename "$base")"
    tar --numeric-owner -I zstd -xf "$base" -C "$root"
  else
    command -v debootstrap >/dev/null || fail "no base tarball and no debootstrap"
    say "debootstrap bookworm (minbase + nodejs, udev, kmod, dbus)"
    debootstrap --variant=minbase --include=nodejs,udev,kmod,dbus bookworm "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
      { tail -20 "$tmp/debootstrap.log" >&2; exit 1; }
  fi
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  say "apt-get install initramfs-tools (no recommends: klibc, no busybox)"
  in_ns "$root" 'run apt-get -q -y update >/dev/null
    run apt-get -q -y -o Dpkg::Use-Pty=0 --no-install-recommends install initramfs-tools >/dev/null'
  rm -f "$root/var/cache/apt/archives/"*.deb "$root/usr/sbin/policy-rc.d"
  mkdir -p "$cache"
  tar -C "$root" --numeric-owner -cf - . | zstd -q -T0 -3 -o "$tarball.tmp"
  mv "$tarball.tmp" "$tarball"
}

# --- inputs --------------------------------------------------------------------------------------
[ -n "$KDIR" ] || KDIR=$(ls -d "$repo"/.cache/vm/kernel-*/ 2>/dev/null | sort -V | tail -1)
KDIR=${KDIR%/}
[ -n "$KDIR" ] && [ -d "$KDIR/lib/modules" ] || fail "no extracted kernel (run npm run test:vm once, or pass --kernel-dir)"
KVER=$(ls "$KDIR/lib/modules")
if [ -z "$DEB" ]; then
  say "building the package from this tree (npm run deb)"
  rm -rf "$cache/deb"; mkdir -p "$cache/deb"
  (cd "$repo" && OUT_DIR=$cache/deb SKIP_LINTIAN=1 npm run -s deb) >"$cache/deb/build.log" 2>&1 || { tail -30 "$cache/deb/build.log" >&2; fail "npm run deb failed"; }
  DEB=$(ls -t "$cache"/deb/pcie-passthroughd_*_all.deb | head -1)
fi
say "kernel $KVER, package $(basename "$DEB")"

t0=$(now)
work=$(mktemp -d /tmp/real-mkinitramfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ ! -e "$tarball" ]; then build_cache "$work"; rm -rf "$work/root"; echo "chroot cache built in $(since "$t0") s" >&2; fi
root=$work/root
mkdir -p "$root"
tar --numeric-owner -I zstd -xf "$tarball" -C "$root"
[ -x "$root/usr/sbin/update-initramfs" ] || fail "initramfs-tools is not installed in the cached chroot"

# --- the distribution's initramfs, before any device is configured --------------------------------
mkdir -p "$root/lib/modules" "$root/boot"
cp -a "$KDIR/lib/modules/$KVER" "$root/lib/modules/"
cp "$KDIR/boot/config-$KVER" "$root/boot/"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
cp "$DEB" "$root/tmp/under-test.deb"
# MODULES=list keeps the image small enough to boot fast under TCG: the root disk's modules and the
# early-KMS host drivers an admin lists (the case the claims exist for), nothing else.
printf 'MODULES=list\n' >"$root/etc/initramfs-tools/conf.d/pcie-passthroughd-test.conf"
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic bochs snd_hda_intel >>"$root/etc/initramfs-tools/modules"
t=$(now)
in_ns "$root" "run depmod $KVER
  run dpkg -i /tmp/under-test.deb >/tmp/dpkg.log 2>&1 || { cat \"\$root/tmp/dpkg.log\" >&2; exit 1; }
  run update-initramfs -c -k $KVER >/dev/null"
rm -f "$root/tmp/under-test.deb" "$root/usr/sbin/policy-rc.d"
[ -s "$root/boot/initrd.img-$KVER" ] || fail "update-initramfs -c wrote no /boot/initrd.img-$KVER"
ok "package installed, distribution initramfs built ($(since "$t") s)"
[ -e "$root/var/lib/pcie-passthroughd/initramfs/$KVER.modules" ] || fail "the hook left no record of the image's modules"
grep -qx bochs "$root/var/lib/pcie-passthroughd/initramfs/$KVER.modules" || fail "bochs is not in the distribution initramfs (the record lists: $(tr '\n' ' ' <"$root/var/lib/pcie-passthroughd/initramfs/$KVER.modules"))"
ok "the hook recorded the image's modules (bochs among them) and no claims"

# --- facts the CLI reads: the guest's GPU + HDA pair as sysfs shows it, one IOMMU group ---------
mkdir -p "$root/proc/sys/kernel" "$root/sys/kernel/iommu_groups/1/devices" "$root/sys/bus/pci/devices" "$root/sys/bus/pci/drivers"
echo "$KVER" >"$root/proc/sys/kernel/osrelease"
echo "BOOT_IMAGE=/boot/vmlinuz-$KVER root=/dev/vda ro intel_iommu=on" >"$root/proc/cmdline"
printf 'processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 vmx\n\n' >"$root/proc/cpuinfo"
echo DMA >"$root/sys/kernel/iommu_groups/1/type"
# fake_device SYSFS ADDR VENDOR DEVICE CLASS MODALIAS
fake_device() {
  local sys=$1 a=$2 d=$1/devices/pci0000:00/0000:00:02.0/$2
  mkdir -p "$d"
  echo "$3" >"$d/vendor"; echo "$4" >"$d/device"; echo 0x1af4 >"$d/subsystem_vendor"; echo 0x1100 >"$d/subsystem_device"
  echo "$5" >"$d/class"; echo "$6" >"$d/modalias"; echo '(null)' >"$d/driver_override"
  ln -sfn "../../../devices/pci0000:00/0000:00:02.0/$a" "$sys/bus/pci/devices/$a"
  [ ! -d "$sys/kernel/iommu_groups/1" ] || { ln -sfn "../../../../kernel/iommu_groups/1" "$d/iommu_group"; ln -sfn "../../../../devices/pci0000:00/0000:00:02.0/$a" "$sys/kernel/iommu_groups/1/devices/$a"; }
}
fake_pair() {
  fake_device "$1" 0000:01:00.0 0x1234 0x1111 0x030000 pci:v00001234d00001111sv00001AF4sd00001100bc03sc00i00
  fake_device "$1" 0000:01:00.1 0x8086 0x293e 0x040300 pci:v00008086d0000293Esv00001AF4sd00001100bc04sc03i00
}
fake_pair "$root/sys"
mkdir -p "$root/etc/pcie-passthroughd"
printf '# The GPU pair of the VM guest, whole slot.\n[[device]]\naddress = "0000:01:00.0"\nfunctions = "all"\n' >"$root/etc/pcie-passthroughd/config.toml"

ctl() { node "$root/usr/lib/pcie-passthroughd/pcie-passthroughctl.cjs" --root "$root" "$@"; }
set +e
stale=$(ctl initramfs 2>&1); code=$?
set -e
printf '%s\n' "$stale" | sed 's/^/   /' >&2
[ "$code" = 1 ] || fail "initramfs on the distribution image exited $code, want 1 (stale)"
printf '%s\n' "$stale" | grep -q "loads the host driver of 0000:01:00.0 (bochs), 0000:01:00.1 (snd_hda_intel)" ||
  fail "the staleness verdict does not name both devices and their host modules"
ok "initramfs: the distribution image is stale, naming 01:00.0 (bochs) and 01:00.1 (snd_hda_intel)"

t=$(now)
set +e
updated=$(ctl initramfs --update 2>&1); code=$?
set -e
printf '%s\n' "$updated" | sed 's/^/   /' >&2
[ "$code" = 0 ] || fail "initramfs --update exited $code"
printf '%s\n' "$updated" | grep -q "^Running update-initramfs -u -k $KVER chrooted into $root" || fail "update-initramfs was not run chrooted"
printf '%s\n' "$updated" | grep -q "carries the current early claims (2)" || fail "after the update the image is not current"
ok "initramfs --update: update-initramfs ran chrooted, the image is current ($(since "$t") s)"
claims=$root/etc/pcie-passthroughd/early/claims
grep -q '^claim 0000:01:00\.0 ' "$claims" && grep -q '^claim 0000:01:00\.1 0x8086 0x293e 0x1af4 0x1100 ' "$claims" || fail "claims file: $(cat "$claims")"
cmp -s "$claims" "$root/var/lib/pcie-passthroughd/initramfs/$KVER.claims" || fail "the hook's record differs from the claims"

# --- what the image carries --------------------------------------------------------------------
unpacked=$work/unpacked
chroot "$root" unmkinitramfs "/boot/initrd.img-$KVER" /tmp/unpacked >/dev/null || fail "unmkinitramfs failed"
mv "$root/tmp/unpacked" "$unpacked"
img=$unpacked; [ -e "$img/init" ] || img=$unpacked/main
[ -e "$img/init" ] || fail "no init in the unpacked image ($(ls "$unpacked"))"
cmp -s "$img/etc/pcie-passthroughd/early/claims" "$claims" || fail "the image's claims differ from /etc/pcie-passthroughd/early/claims"
[ -e "$img/etc/pcie-passthroughd/early/in-initramfs" ] || fail "no in-initramfs marker in the image"
cmp -s "$img/usr/lib/pcie-passthroughd/pcie-passthroughd-claim" "$root/usr/lib/pcie-passthroughd/pcie-passthroughd-claim" || fail "the image lacks the claim helper"
[ -x "$img/usr/lib/pcie-passthroughd/pcie-passthroughd-claim" ] || fail "the image's claim helper is not executable"
rule=$(ls "$img"/lib/udev/rules.d/05-pcie-passthroughd.rules "$img"/usr/lib/udev/rules.d/05-pcie-passthroughd.rules 2>/dev/null | head -1 || true)
[ -n "$rule" ] || fail "the image lacks 05-pcie-passthroughd.rules"
ok "the image carries the claims (identical), the in-initramfs marker, the helper and the udev rule"
mods=$(find "$img/lib/modules/$KVER" "$img/usr/lib/modules/$KVER" -name '*.ko*' 2>/dev/null | sed 's,.*/,,; s,\.ko.*$,,; s,-,_,g' | sort -u)
for m in vfio_pci vfio vfio_iommu_type1 bochs snd_hda_intel; do
  printf '%s\n' "$mods" | grep -qx "$m" || fail "module $m is not in the image"
done
ok "modules in the image: vfio_pci, vfio, vfio_iommu_type1 (the claim's driver) and bochs, snd_hda_intel (host drivers)"
order=$img/scripts/init-top/ORDER
[ -e "$order" ] || fail "mkinitramfs wrote no scripts/init-top/ORDER"
ours=$(grep -n 'init-top/pcie-passthroughd' "$order" | head -1 | cut -d: -f1)
udev=$(grep -n 'init-top/udev' "$order" | head -1 | cut -d: -f1)
[ -n "$ours" ] && [ -n "$udev" ] && [ "$ours" -lt "$udev" ] || fail "init-top ORDER does not run pcie-passthroughd before udev: $(tr '\n' ';' <"$order")"
ok "init-top/ORDER runs pcie-passthroughd (line $ours) before udev (line $udev)"

# --- the image's helper under the image's own shell, on a fake sysfs ----------------------------
fake=$img/fake-sys
mkdir -p "$fake/bus/pci/devices" "$fake/bus/pci/drivers/vfio-pci"
: >"$fake/bus/pci/drivers_probe"
fake_pair "$fake"
: >"$img/kmsg"
# /dev is devtmpfs at boot; the helper redirects to /dev/null.
mkdir -p "$img/dev"; [ -e "$img/dev/null" ] || mknod -m 666 "$img/dev/null" c 1 3
# (No env(1) in a klibc image: the shell sets the variables itself.)
PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$img" /bin/sh -c 'PCIE_PASSTHROUGHD_SYSFS=/fake-sys PCIE_PASSTHROUGHD_RECORDS=/records \
  PCIE_PASSTHROUGHD_KMSG=/kmsg PCIE_PASSTHROUGHD_MODPROBE=false exec /bin/sh /usr/lib/pcie-passthroughd/pcie-passthroughd-claim --all boot' ||
  fail "the helper failed under the image's /bin/sh"
for a in 0000:01:00.0 0000:01:00.1; do
  [ "$(cat "$fake/devices/pci0000:00/0000:00:02.0/$a/driver_override")" = vfio-pci ] || fail "$a: driver_override not written by the image's helper (kmsg: $(cat "$img/kmsg"))"
  grep -qx 'stage=initramfs-boot' "$img/records/$a" || fail "$a: no initramfs-boot record"
  grep -q "pcie-passthroughd-claim: $a: claimed for vfio-pci at initramfs-boot" "$img/kmsg" || fail "$a: no kernel log line"
done
ok "the image's helper, run by the image's /bin/sh ($(readlink "$img/bin/sh" 2>/dev/null || echo sh)), wrote vfio-pci to both driver_overrides, records stage=initramfs-boot"

printf '%s\n' "$(ls "$img/bin")" | tr '\n' ' ' | sed 's/^/   the image'"'"'s \/bin: /' >&2; echo >&2
if [ -n "$OUT" ]; then cp "$root/boot/initrd.img-$KVER" "$OUT"; ok "initramfs copied to $OUT"; fi
echo "real-mkinitramfs: PASS ($(since "$t0") s)" >&2
