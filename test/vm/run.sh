#!/usr/bin/env bash
# Real-kernel end-to-end tests: boot a Debian guest in QEMU per scenario, with our .deb installed.
#
#   npm run test:vm [-- --deb PATH] [--only 1,3] [--no-deb]
#
# --deb PATH   test this package (default: build one from this tree with `npm run deb` into
#              .cache/vm/deb/; VM_SKIP_DEB_BUILD=1 reuses the newest package there or in the repo root)
# --only LIST  scenario numbers to run, e.g. 1,2b,3 (00 = baseline, the harness' own check of the guest)
# --no-deb     only the baseline, on an image without the package
# --check-only re-run the host-side assertions on the last results, without booting (development)
# Results: .cache/vm/runs/<scenario>/ (serial.log, share/out/boot-N/*). Last line: "N passed, N failed".
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=assert.sh
. "$HERE/assert.sh"

DEB=${VM_DEB:-}; ONLY=""; NO_DEB=0; CHECK_ONLY=0
while [ $# -gt 0 ]; do
  case $1 in
    --deb) DEB=$(realpath "$2"); shift 2 ;;
    --only) ONLY=",$2,"; shift 2 ;;
    --no-deb) NO_DEB=1; ONLY=",00,"; shift ;;
    --check-only) CHECK_ONLY=1; shift ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
trap 'vm_kill' EXIT
trap 'vm_kill; exit 130' INT TERM

t0=$(date +%s)
if [ "$CHECK_ONLY" = 1 ]; then NO_DEB=1; VM_IMAGE=none; VM_ACCEL=none
elif [ "$NO_DEB" = 0 ] && [ -z "$DEB" ]; then
  DEB=$(vm_build_deb) || exit 1
fi
vm_log "image for ${DEB:-no package}"
if [ "$CHECK_ONLY" = 1 ]; then :
elif [ -n "$DEB" ]; then vm_image --deb "$DEB" || exit 1; else vm_image || exit 1; fi
t_image=$(( $(date +%s) - t0 ))
vm_log "image ready in ${t_image}s: $(basename "$VM_IMAGE"), accel $(vm_accel)"

TIMES=()
for dir in "$HERE"/scenarios/*/; do
  dir=${dir%/}; name=$(basename "$dir"); num=${name%%-*}
  [ -z "$ONLY" ] || [[ $ONLY == *",$num,"* ]] || [[ $ONLY == *",${num#0},"* ]] || continue
  unset -f devices drive check; title=$name; VM_REBOOT=0
  # shellcheck source=/dev/null
  . "$dir/host.sh"
  echo "== $name: $title"
  SC_FAIL=0
  devices
  if [ "$CHECK_ONLY" = 1 ]; then VM_RUN=$VM_RUNS/$name; VM_WALL='?'
  else
    vm_start "$name" "$dir"
    if declare -F drive >/dev/null; then drive || fail "host-side steps of $name completed"; fi
    vm_wait_exit || fail "guest powered off by itself within ${VM_BOOT_TIMEOUT}s"
  fi
  check
  runner=$(cat "$(vm_out 1)/uptime-runner" 2>/dev/null || echo '?')
  TIMES+=("$(printf '%-22s wall %4ss  boot-1 runner start at guest uptime %ss' "$name" "$VM_WALL" "$runner")")
  [ "$SC_FAIL" = 0 ] || vm_dump
done

echo "== times (image ${t_image}s, accel $(vm_accel))"
printf '  %s\n' "${TIMES[@]}"
echo "== total $(( $(date +%s) - t0 ))s"
echo "$PASS passed, $FAIL failed"
[ $((PASS + FAIL)) -gt 0 ] || { echo "run.sh: no scenario matched '--only ${ONLY//,/ }'" >&2; exit 2; }
[ "$FAIL" = 0 ]
