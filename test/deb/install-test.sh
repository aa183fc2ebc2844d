#!/usr/bin/env bash
# npm run test:deb -- installs the .deb into a clean Debian chroot and checks what an admin relies on:
# lintian has no errors or warnings; `apt-get install ./pcie-passthroughd_*.deb` pulls nodejs & co. from Debian;
# the CLI runs on Debian's own Node (18.20 on bookworm); the files are where the man pages say;
# the install works without systemd running (no daemon start, unit still enabled); `apt-get remove`
# keeps the conffile, `apt-get purge` removes it and the runtime state.
#
# Needs root (debootstrap, chroot, mount namespaces) and network access to the Debian mirror.
# The bootstrapped chroot is cached as a tarball under .cache/deb/, keyed by everything that
# shapes it; downloaded .debs are kept in .cache/deb/archives-<suite>/ between runs.
#
# Environment:
#   DEB=FILE       test this .deb instead of building one with scripts/build-deb.sh
#   SUITE=NAME     Debian release to install into (default bookworm; trixie works too)
#   MIRROR=URL     Debian mirror (default http://deb.debian.org/debian)
#   KEEP_CACHE=0   rebuild the chroot tarball even if a cached one exists
#   DEB_TEST_CACHE=DIR  cache directory (default .cache/deb in the repository)
#   RECOMMENDS=1   also install Recommends, as a plain `apt install` does (pci.ids, but also
#                  nodejs-doc and ca-certificates: twice the install time, nothing more tested)
#
# Safety: no /sys is mounted into the chroot at any time during the package tests; /proc is a
# fresh procfs mounted read-only. Every mount lives in a private mount namespace (unshare -m),
# so nothing leaks even if this script is killed. (debootstrap itself mounts proc and sysfs in
# its target while it builds the base system; that also runs inside a private namespace.)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
suite=${SUITE:-bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}
security_mirror=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
cache=${DEB_TEST_CACHE:-$repo/.cache/deb}
# Bump when the chroot recipe below changes, so an old cached tarball is not reused.
recipe_version=1

say() { printf '\n== %s\n' "$*" >&2; }
fail() { echo "install-test: FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------------
# Phase run inside the private mount namespace: $0 --inside WORK TARBALL DEB
# ---------------------------------------------------------------------------------------------
inside() {
  local work=$1 tarball=$2 deb=$3
  local root=$work/root
  mounts=()  # global: the EXIT trap runs after this function has returned
  cleanup_mounts() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
      umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null || true
    done
  }
  trap cleanup_mounts EXIT

  in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"; }
  apt_in_root() { in_root apt-get -q -y -o Dpkg::Use-Pty=0 -o APT::Install-Recommends="${RECOMMENDS:-0}" "$@"; }

  local t=$(now)
  mkdir -p "$root"
  tar --numeric-owner -I zstd -xf "$tarball" -C "$root"
  echo "chroot unpacked in $(since "$t") s" >&2

  # No init system in a chroot: policy-rc.d forbids starting services (invoke-rc.d, deb-systemd-invoke).
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # A throwaway tree: skip dpkg's fsync()s, which dominate install time.
  echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/unsafe-io"
  cp "$deb" "$root/tmp/"
  local deb_in_root=/tmp/$(basename "$deb")

  mkdir -p "$cache/archives-$suite/partial"
  mount --bind "$cache/archives-$suite" "$root/var/cache/apt/archives"
  mounts+=("$root/var/cache/apt/archives")
  # Node and dpkg read /proc (e.g. /proc/self/exe); a fresh read-only procfs is enough.
  mount -t proc -o ro,nosuid,nodev,noexec proc "$root/proc"
  mounts+=("$root/proc")
  [ ! -e "$root/sys/bus" ] || fail "sysfs is visible in the chroot"

  say "apt-get install ./$(basename "$deb") ($suite)"
  t=$(now)
  if ! apt_in_root install "$deb_in_root" >"$work/install.log" 2>&1; then
    # A cached package list can name versions the mirror no longer has: refresh once.
    grep -E 'Failed to fetch|Unable to fetch|404' "$work/install.log" >&2 || { cat "$work/install.log" >&2; fail "apt-get install"; }
    apt_in_root update >/dev/null
    apt_in_root install "$deb_in_root" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "apt-get install"; }
  fi
  echo "installed in $(since "$t") s" >&2
  in_root dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\n' pcie-passthroughd nodejs kmod udev dbus pci.ids >&2
  [ "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' pcie-passthroughd)" = "ii " ] || fail "pcie-passthroughd is not installed"
  if [ "${RECOMMENDS:-0}" = 1 ]; then
    [ "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' pci.ids)" = "ii " ] || fail "Recommends: pci.ids was not installed"
  fi

  say "runs on Debian's node"
  local node_version
  node_version=$(in_root /usr/bin/node --version)
  echo "node $node_version" >&2
  if [ "$suite" = bookworm ]; then
    case $node_version in v18.2[0-9].*) ;; *) fail "bookworm should provide node 18.20+, got $node_version" ;; esac
  fi
  local want_version got_version
  want_version=$(dpkg-deb -f "$deb" Version)
  got_version=$(in_root pcie-passthroughctl --version) || fail "pcie-passthroughctl --version exited $?"
  echo "$got_version" >&2
  [ "$got_version" = "pcie-passthroughctl $want_version" ] || fail "--version said '$got_version', want version $want_version"
  in_root pcie-passthroughd --help >/dev/null || fail "pcie-passthroughd --help exited $?"

  # No /sys in the chroot: check must still answer, as a failure (exit 2) that says there are no
  # IOMMU groups, in valid JSON.
  local rc=0
  in_root pcie-passthroughctl check --json >"$work/check.json" 2>"$work/check.err" || rc=$?
  [ "$rc" = 2 ] || { cat "$work/check.err" >&2; fail "check --json exited $rc, want 2 (no IOMMU)"; }
  in_root /usr/bin/node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    if (r.status !== "fail" || r.iommu.groupCount !== 0) { console.error(JSON.stringify(r.iommu), r.status); process.exit(1); }
    const dma = r.checks.find((c) => c.name === "dma-remapping");
    if (!dma || dma.status !== "fail") { console.error("dma-remapping check did not fail:", dma); process.exit(1); }
    console.error("check: " + r.status + ", " + r.iommu.groupCount + " IOMMU groups; " + dma.message);
  ' <"$work/check.json" || fail "check --json does not report 'no IOMMU groups' as a failure"
  # The shipped config is valid and binds nothing.
  rc=0
  in_root pcie-passthroughctl plan --json >"$work/plan.json" 2>"$work/plan.err" || rc=$?
  [ "$rc" = 0 ] || { cat "$work/plan.err" >&2; fail "plan with the shipped config exited $rc, want 0"; }
  in_root /usr/bin/node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    if (r.actions.length !== 0) { console.error(r.actions); process.exit(1); }
  ' <"$work/plan.json" || fail "plan with the shipped config has actions"

  say "dpkg -L"
  local listed
  listed=$(in_root dpkg -L pcie-passthroughd)
  local unit_dir=/usr/lib/systemd/system
  grep -qx /lib/systemd/system/pcie-passthroughd.service <<<"$listed" && unit_dir=/lib/systemd/system
  local f
  for f in /usr/sbin/pcie-passthroughd /usr/bin/pcie-passthroughctl \
    /usr/lib/pcie-passthroughd/pcie-passthroughd.cjs /usr/lib/pcie-passthroughd/pcie-passthroughctl.cjs \
    /etc/pcie-passthroughd/config.toml $unit_dir/pcie-passthroughd.service \
    /usr/share/dbus-1/system.d/org.pciepassthroughd.conf \
    /usr/share/dbus-1/interfaces/org.pciepassthroughd.Manager1.xml \
    /usr/share/dbus-1/interfaces/org.pciepassthroughd.Device1.xml \
    /usr/share/man/man8/pcie-passthroughd.8.gz /usr/share/man/man8/pcie-passthroughctl.8.gz \
    /usr/share/man/man5/pcie-passthroughd.toml.5.gz \
    /usr/share/bash-completion/completions/pcie-passthroughctl \
    /usr/share/doc/pcie-passthroughd/copyright; do
    grep -qx "$f" <<<"$listed" || fail "dpkg -L does not list $f"
    [ -e "$root$f" ] || fail "$f is listed but missing"
  done
  echo "all $(grep -c . <<<"$listed") paths listed, expected ones present" >&2
  in_root dpkg-query -W -f='${Conffiles}\n' pcie-passthroughd | grep -q ' /etc/pcie-passthroughd/config.toml ' ||
    fail "/etc/pcie-passthroughd/config.toml is not a conffile"

  say "enabled without systemd running"
  local wants=/etc/systemd/system/multi-user.target.wants/pcie-passthroughd.service
  [ -L "$root$wants" ] || fail "$wants missing: the unit was not enabled on install"
  [ ! -e "$root/run/systemd/system" ] || fail "the chroot unexpectedly looks like a running systemd"

  say "apt-get remove keeps the config"
  echo '# edited by the admin' >>"$root/etc/pcie-passthroughd/config.toml"
  mkdir -p "$root/run/pcie-passthroughd"
  echo '{}' >"$root/run/pcie-passthroughd/state.json"
  apt_in_root remove pcie-passthroughd >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; fail "apt-get remove"; }
  [ "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' pcie-passthroughd)" = "rc " ] || fail "not in config-files state after remove"
  [ ! -e "$root/usr/bin/pcie-passthroughctl" ] || fail "remove left /usr/bin/pcie-passthroughctl"
  grep -q '^# edited by the admin$' "$root/etc/pcie-passthroughd/config.toml" || fail "remove did not keep the edited config"
  echo "config kept: /etc/pcie-passthroughd/config.toml" >&2

  say "apt-get purge removes config and state"
  apt_in_root purge pcie-passthroughd >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "apt-get purge"; }
  [ -z "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' pcie-passthroughd 2>/dev/null)" ] ||
    [ "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' pcie-passthroughd 2>/dev/null)" = "un " ] || fail "still known to dpkg after purge"
  [ ! -e "$root/etc/pcie-passthroughd" ] || fail "purge left /etc/pcie-passthroughd: $(ls -A "$root/etc/pcie-passthroughd")"
  [ ! -e "$root/run/pcie-passthroughd" ] || fail "purge left /run/pcie-passthroughd"
  [ ! -L "$root$wants" ] || fail "purge left $wants"
  echo "purged" >&2
}

# ---------------------------------------------------------------------------------------------
# Chroot tarball, cached under .cache/deb/ by the inputs that shape it.
# ---------------------------------------------------------------------------------------------
chroot_tarball() {
  local arch key tarball
  arch=$(dpkg --print-architecture)
  key=$(printf '%s\n' "$recipe_version" "$suite" "$arch" "$mirror" "$security_mirror" minbase \
    "$(dpkg-query -W -f='${Version}' debootstrap)" | sha256sum | cut -c1-16)
  tarball=$cache/chroot-$suite-$arch-$key.tar.zst
  if [ -s "$tarball" ] && [ "${KEEP_CACHE:-1}" != 0 ]; then
    echo "$tarball"
    return
  fi
  say "debootstrap $suite (no cached $(basename "$tarball"))"
  local t build
  t=$(now)
  mkdir -p "$cache"
  build=$(mktemp -d "$cache/.bootstrap.XXXXXX")
  # Private mount namespace: the proc/sysfs mounts debootstrap makes cannot outlive it.
  if ! unshare --mount --propagation private \
    debootstrap --variant=minbase "$suite" "$build/root" "$mirror" >"$build/debootstrap.log" 2>&1; then
    tail -n 30 "$build/debootstrap.log" >&2
    rm -rf --one-file-system "$build"
    fail "debootstrap $suite from $mirror"
  fi
  {
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    echo "deb $security_mirror $suite-security main"
  } >"$build/root/etc/apt/sources.list"
  cp /etc/resolv.conf "$build/root/etc/resolv.conf"
  chroot "$build/root" apt-get -q update >/dev/null || { rm -rf --one-file-system "$build"; fail "apt-get update in the new chroot"; }
  chroot "$build/root" apt-get clean
  rm -f "$build/root/etc/resolv.conf"
  tar --numeric-owner -I 'zstd -T0 -3' -cf "$build/chroot.tar.zst" -C "$build/root" .
  mv "$build/chroot.tar.zst" "$tarball"
  rm -rf --one-file-system "$build"
  # Older tarballs of this suite are stale now.
  find "$cache" -maxdepth 1 -name "chroot-$suite-$arch-*.tar.zst" ! -name "$(basename "$tarball")" -delete
  echo "chroot built and cached in $(since "$t") s ($(du -h "$tarball" | cut -f1))" >&2
  echo "$tarball"
}

main() {
  [ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot, mount namespaces); run: sudo npm run test:deb"
  local start tools=() p
  start=$(now)
  for p in debootstrap zstd lintian; do command -v "$p" >/dev/null || tools+=("$p"); done
  if [ ${#tools[@]} -gt 0 ]; then
    say "installing ${tools[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
  fi

  # Mounts live only in the inner namespace, so removing the tree cannot reach outside it.
  work=$(mktemp -d /tmp/pcie-passthroughd-install-test.XXXXXX)
  trap 'rm -rf --one-file-system "$work"' EXIT
  local tmp_out=$work/lintian.out

  local deb=${DEB:-}
  if [ -z "$deb" ]; then
    say "building the package"
    deb=$(SKIP_LINTIAN=1 bash "$repo/scripts/build-deb.sh" | tail -n 1)
  fi
  [ -s "$deb" ] || fail "no package at '$deb'"
  deb=$(readlink -f "$deb")

  say "lintian $(basename "$deb")"
  local lintian_rc=0
  lintian --fail-on error,warning --display-info "$deb" >"$tmp_out" 2>&1 || lintian_rc=$?
  grep -v 'running with root privileges' "$tmp_out" >&2 || true
  [ "$lintian_rc" = 0 ] || fail "lintian reports errors or warnings (exit $lintian_rc; fix them or override with a reason in debian/pcie-passthroughd.lintian-overrides)"
  local bundle_bytes
  bundle_bytes=$(dpkg-deb -c "$deb" | awk '$6 ~ /usr\/lib\/pcie-passthroughd\/.*\.cjs$/ { s += $3 } END { print s }')
  echo "package: $(stat -c %s "$deb") bytes; bundles: $bundle_bytes bytes; installed size: $(dpkg-deb -f "$deb" Installed-Size) KiB" >&2

  local tarball rc=0
  tarball=$(chroot_tarball)
  unshare --mount --propagation private bash "$0" --inside "$work" "$tarball" "$deb" || rc=$?
  [ "$rc" = 0 ] || exit "$rc"
  say "PASS ($suite, $(since "$start") s)"
}

if [ "${1:-}" = --inside ]; then
  shift
  inside "$@"
else
  main "$@"
fi
