#!/usr/bin/env bash
# Builds pcie-passthroughd_<version>_all.deb (npm run deb).
#
# The JavaScript bundle is built first, outside the package build, from package-lock.json
# (npm run build); dpkg-buildpackage then only installs dist/*.cjs, so it needs neither npm nor
# the network. The package is built in a staging copy under a temp dir, so the checkout gets no
# debian/ build debris and parallel builds do not collide; the .deb lands in OUT_DIR.
#
# Environment:
#   OUT_DIR=DIR      where to put the .deb (default: the repository root)
#   DIST_DIR=DIR     use bundles already built in DIR instead of running npm run build
#   SKIP_LINTIAN=1   do not run lintian on the result
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out_dir=${OUT_DIR:-$repo}
build_deps=(debhelper dpkg-dev fakeroot lintian)

die() { echo "build-deb: $*" >&2; exit 1; }

missing_packages() {
  local p
  for p in "${build_deps[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

install_build_deps() {
  local missing
  missing=$(missing_packages)
  [ -z "$missing" ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing build tools: $missing (run: sudo apt-get install $missing)"
  echo "build-deb: installing $missing" >&2
  # Another apt run (another job on this machine) may hold the lock: wait for it.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
}

# The package version comes from debian/changelog; it must be the version the bundle reports.
check_versions() {
  local npm_version deb_version
  npm_version=$(node -p "require('$repo/package.json').version")
  deb_version=$(cd "$repo" && dpkg-parsechangelog -S Version)
  [ "$npm_version" = "$deb_version" ] ||
    die "package.json says $npm_version but debian/changelog says $deb_version: add a changelog entry (dch -v $npm_version)"
  echo "$deb_version"
}

build_bundle() {
  if [ -n "${DIST_DIR:-}" ]; then
    echo "$DIST_DIR"
    return
  fi
  (
    cd "$repo"
    [ -d node_modules ] || npm ci --no-audit --no-fund >&2
    npm run --silent build >&2
  )
  echo "$repo/dist"
}

install_build_deps
version=$(check_versions)
dist=$(build_bundle)
for f in pcie-passthroughctl.cjs pcie-passthroughd.cjs; do
  [ -s "$dist/$f" ] || die "$dist/$f is missing after the bundle step (scripts/build.mjs)"
done

work=$(mktemp -d /tmp/pcie-passthroughd-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
stage=$work/pcie-passthroughd-$version
mkdir -p "$stage/dist"
# Only what debian/ installs; debian/pcie-passthroughd.service is a link into systemd/.
(cd "$repo" && tar -cf - --exclude='debian/.debhelper' --exclude='debian/pcie-passthroughd' \
  --exclude='debian/files' --exclude='debian/*.substvars' --exclude='debian/*.debhelper' \
  --exclude='debian/debhelper-build-stamp' debian data man systemd) | tar -xf - -C "$stage"
cp "$dist/pcie-passthroughctl.cjs" "$dist/pcie-passthroughd.cjs" "$stage/dist/"

if ! (cd "$stage" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log" >&2
  die "dpkg-buildpackage failed (last 40 lines above)"
fi

deb_name=pcie-passthroughd_${version}_all.deb
mkdir -p "$out_dir"
mv "$work/$deb_name" "$out_dir/$deb_name"
deb=$(cd "$out_dir" && pwd)/$deb_name

if [ "${SKIP_LINTIAN:-0}" != 1 ]; then
  # Errors and warnings fail the build; each justified exception is an override with its reason
  # in debian/pcie-passthroughd.lintian-overrides. Info and pedantic tags are shown, not fatal.
  lintian --fail-on error,warning --display-info --pedantic "$deb" ||
    die "lintian found errors or warnings in $deb"
fi

echo "$deb"
