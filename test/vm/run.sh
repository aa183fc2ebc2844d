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
#
# Accelerator: VM_ACCEL=kvm|tcg forces one; otherwise KVM only after a guest kernel printed on its
# console under it within VM_KVM_PROBE_SECONDS (20), else TCG (lib.sh, vm_decide_accel).
# VM_DEADLINE (epoch seconds): the whole stage ends by then; scenarios that cannot start in time fail.
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
[ "$CHECK_ONLY" = 1 ] || vm_decide_accel
vm_log "image ready in ${t_image}s: $(basename "$VM_IMAGE"), accel $(vm_accel)"
# A scenario may boot another initramfs (13: Debian's real one); the next one gets the harness's again.
VM_IMAGE_INITRD=${VM_INITRD:-}
# Below this many seconds before VM_DEADLINE no scenario is started (one boot under TCG needs ~1-3 min).
VM_SCENARIO_MIN_SECONDS=${VM_SCENARIO_MIN_SECONDS:-180}

TIMES=()
for dir in "$HERE"/scenarios/*/; do
  dir=${dir%/}; name=$(basename "$dir"); num=${name%%-*}
  [ -z "$ONLY" ] || [[ $ONLY == *",$num,"* ]] || [[ $ONLY == *",${num#0},"* ]] || continue
  unset -f devices drive check; title=$name; VM_REBOOT=0; VM_INITRD=$VM_IMAGE_INITRD
  # shellcheck source=/dev/null
  . "$dir/host.sh"
  echo "== $name: $title"
  if [ "$CHECK_ONLY" = 0 ] && [ "$(vm_time_left)" -lt "$VM_SCENARIO_MIN_SECONDS" ]; then
    fail "VM stage deadline: $(vm_time_left) s left, too little to run $name (VM_DEADLINE); not started"
    continue
  fi
  SC_FAIL=0
  devices
  if [ "$CHECK_ONLY" = 1 ]; then VM_RUN=$VM_RUNS/$name; VM_WALL='?'
  else
    vm_start "$name" "$dir"
    if declare -F drive >/dev/null; then drive || fail "host-side steps of $name completed"; fi
    vm_wait_exit || fail "guest powered off by itself within ${VM_BOOT_TIMEOUT}s${VM_STOP_WHY:+ ($VM_STOP_WHY)}"
  fi
  # A guest that left no results fails once, not once per assertion (checks on absent files could
  # otherwise compare two absent values as equal).
  if [ "$CHECK_ONLY" = 0 ] && [ ! -d "$(vm_out 1)" ]; then
    fail "$name: the guest left no results${VM_STOP_WHY:+ ($VM_STOP_WHY)}"
  else
    check
  fi
  runner=$(cat "$(vm_out 1)/uptime-runner" 2>/dev/null || echo '?')
  TIMES+=("$(printf '%-22s wall %4ss  boot-1 runner start at guest uptime %ss' "$name" "$VM_WALL" "$runner")")
  [ "$SC_FAIL" = 0 ] || vm_dump
done

echo "== times (image ${t_image}s, accel $(vm_accel): ${VM_ACCEL_WHY:-})"
printf '  %s\n' "${TIMES[@]}"
echo "== total $(( $(date +%s) - t0 ))s"
echo "$PASS passed, $FAIL failed"
[ $((PASS + FAIL)) -gt 0 ] || { echo "run.sh: no scenario matched '--only ${ONLY//,/ }'" >&2; exit 2; }
[ "$FAIL" = 0 ]
