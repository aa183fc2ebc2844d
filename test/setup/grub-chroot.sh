#!/usr/bin/env bash
# Opt-in (npm run test:setup-grub, as root): `pcie-passthroughctl setup --yes --root CHROOT` on a Debian
# bookworm chroot with Debian's grub-pc installed, where setup runs update-grub chrooted into it;
# the grub.cfg that Debian's grub-mkconfig writes must carry intel_iommu=on on its linux lines, and a
# second run must change nothing.
#
# The chroot (VM base tarball or a fresh minbase debootstrap, plus grub-pc) is cached as a tarball in
# .cache/setup-grub/. What the chroot cannot have is faked in files, never by mounting this machine's:
#   - /proc and /sys of the chroot are plain directories holding the facts setup reads (an Intel CPU
#     with VT-x, a DMAR table, kernel 6.1.0-28-amd64 built without CONFIG_INTEL_IOMMU_DEFAULT_ON);
#   - /boot holds an empty kernel and initrd of that release, so 10_linux has an entry to write;
#   - grub-probe is replaced by a stub naming a fixed disk: the chroot has no block device of its own,
#     and which disk it is does not matter for the kernel arguments.
# Nothing is mounted while setup runs; building the cache mounts a read-only procfs inside a private
# mount namespace (unshare -m) for apt.
#
# Environment: SETUP_GRUB_CACHE=DIR (default .cache/setup-grub), BASE=TARBALL (a minbase bookworm
# tarball; default the VM harness's .cache/vm/base-bookworm-*.tar.zst), MIRROR=URL.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${SETUP_GRUB_CACHE:-$repo/.cache/setup-grub}
mirror=${MIRROR:-http://deb.debian.org/debian}
recipe_version=1
tarball=$cache/grub-bookworm-v$recipe_version.tar.zst
release=6.1.0-28-amd64

say() { printf '== %s\n' "$*" >&2; }
fail() { echo "grub-chroot: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root (chroot)"
for tool in zstd tar chroot unshare; do command -v "$tool" >/dev/null || fail "'$tool' missing"; done

build_cache() {
  local tmp=$1 root=$1/root
  mkdir -p "$root"
  local base=${BASE:-$(ls "$repo"/.cache/vm/base-bookworm-*.tar.zst /work/main/.cache/vm/base-bookworm-*.tar.zst 2>/dev/null | head -n1 || true)}
  if [ -n "$base" ] && [ -e "$base" ]; then
    say "unpacking $(basename "$base")"
    tar --numeric-owner -I zstd -xf "$base" -C "$root"
  else
    command -v debootstrap >/dev/null || fail "no base tarball and no debootstrap"
    say "debootstrap bookworm (minbase)"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 || { tail -20 "$tmp/debootstrap.log" >&2; exit 1; }
  fi
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  say "apt-get install grub-pc (in a private mount namespace)"
  unshare -m bash -euo pipefail -c '
    root=$1
    mount -t proc -o ro,nosuid,nodev,noexec proc "$root/proc"
    run() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
    run apt-get -q -y update >/dev/null
    run apt-get -q -y -o Dpkg::Use-Pty=0 --no-install-recommends install grub-pc >/dev/null
    umount "$root/proc"
  ' _ "$root"
  rm -f "$root/var/cache/apt/archives/"*.deb "$root/usr/sbin/policy-rc.d"
  mkdir -p "$cache"
  tar -C "$root" --numeric-owner -cf - . | zstd -q -T0 -3 -o "$tarball.tmp"
  mv "$tarball.tmp" "$tarball"
}

work=$(mktemp -d /tmp/setup-grub.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ ! -e "$tarball" ]; then build_cache "$work"; rm -rf "$work/root"; fi
root=$work/root
mkdir -p "$root"
tar --numeric-owner -I zstd -xf "$tarball" -C "$root"
[ -x "$root/usr/sbin/update-grub" ] || fail "grub-pc is not installed in the cached chroot"
grep -q '^GRUB_CMDLINE_LINUX_DEFAULT="quiet"$' "$root/etc/default/grub" || fail "unexpected Debian /etc/default/grub"

# The facts setup reads, as files (nothing is mounted on the chroot's /proc or /sys).
mkdir -p "$root/proc/sys/kernel" "$root/sys/firmware/acpi/tables" "$root/sys/kernel/iommu_groups" "$root/boot"
printf 'processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme sse2 vmx x2apic\n\n' >"$root/proc/cpuinfo"
echo "BOOT_IMAGE=/boot/vmlinuz-$release root=UUID=0d6f8a3e-5c1b-4b7e-9a57-6f3c2a1e9b10 ro quiet" >"$root/proc/cmdline"
echo "$release" >"$root/proc/sys/kernel/osrelease"
: >"$root/sys/firmware/acpi/tables/DMAR"
printf 'CONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\nCONFIG_VFIO=m\nCONFIG_VFIO_PCI=m\nCONFIG_VFIO_IOMMU_TYPE1=m\n' >"$root/boot/config-$release"
: >"$root/boot/vmlinuz-$release"
: >"$root/boot/initrd.img-$release"
cat >"$root/usr/sbin/grub-probe" <<'PROBE'
#!/bin/sh
# Test stub: the chroot has no disk of its own; answer as for an ext4 root on /dev/sda1.
for arg; do case $arg in --target=*) target=${arg#--target=} ;; esac; done
case $target in
  device) echo /dev/sda1 ;;
  fs) echo ext2 ;;
  fs_uuid) echo 0d6f8a3e-5c1b-4b7e-9a57-6f3c2a1e9b10 ;;
  partuuid) echo 6b2c1a0f-01 ;;
  drive) echo '(hd0,msdos1)' ;;
  partmap) echo msdos ;;
  abstraction | hints_string | fs_label) echo ;;
  compatibility_hint) echo hd0,msdos1 ;;
  *) echo ;;
esac
PROBE
chmod 755 "$root/usr/sbin/grub-probe"

ctl() { node "$repo/dist/pcie-passthroughctl.cjs" --root "$root" "$@"; }
[ -e "$repo/dist/pcie-passthroughctl.cjs" ] || (cd "$repo" && npm run -s build)

say "setup --yes --root CHROOT"
start=$(date +%s.%N)
set +e
out=$(ctl setup --yes 2>&1)
code=$?
set -e
printf '%s\n' "$out" | sed 's/^/   /' >&2
[ "$code" = 0 ] || fail "setup exited $code"
printf '%s\n' "$out" | grep -q '^Ran update-grub$' || fail "update-grub was not run"
grep -q '^GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"$' "$root/etc/default/grub" || fail "/etc/default/grub not edited"
[ -e "$root/boot/grub/grub.cfg" ] || fail "update-grub wrote no grub.cfg"
linux_lines=$(grep -E "^\s*linux\s+/boot/vmlinuz-$release " "$root/boot/grub/grub.cfg" || true)
[ -n "$linux_lines" ] || fail "grub.cfg has no linux line for $release"
printf '%s\n' "$linux_lines" | sed 's/^/   grub.cfg: /' >&2
# The normal entry carries GRUB_CMDLINE_LINUX_DEFAULT; the recovery entry (single) does not, by design.
printf '%s\n' "$linux_lines" | grep -v ' single' | grep -q ' quiet intel_iommu=on$' || fail "the linux line lacks intel_iommu=on"
echo "setup + update-grub: $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" >&2

say "second run"
again=$(ctl setup --yes 2>&1) || fail "second run exited $?"
printf '%s\n' "$again" | head -n1 | grep -q '^Nothing to change' || fail "second run changed something: $again"
echo "grub-chroot: PASS" >&2
