#!/usr/bin/env bash
# npm run demo [-- --deb PATH]: boot the guest with GPU + HDMI audio + spare NIC configured and show
# what an admin sees after boot (scenario 1): lspci -nnk, /dev/vfio, systemctl status, D-Bus, CLI.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
DEB=${VM_DEB:-}
[ "${1:-}" != --deb ] || DEB=$(realpath "$2")
trap 'vm_kill' EXIT
trap 'vm_kill; exit 130' INT TERM
[ -n "$DEB" ] || DEB=$(vm_build_deb) || exit 1
vm_image --deb "$DEB" || exit 1
vm_decide_accel
vm_devices_standard
vm_log "booting the guest ($(vm_accel)); this takes about a minute under TCG"
vm_start demo "$HERE/scenarios/01-boot"
vm_wait_exit || { vm_dump; exit 1; }
O=$(vm_out 1)
[ -f "$O/main.rc" ] || { echo "demo.sh: the guest produced no results" >&2; vm_dump; exit 1; }
section() { printf '\n\033[1m### %s\033[0m\n' "$1"; }
section "guest: $(cat "$O/uname.txt"), cmdline: $(cat "$O/cmdline.txt")"
section "config (/etc/pcie-passthroughd/config.toml)"; cat "$HERE/scenarios/01-boot/config.toml"
section "lspci -nnk (configured devices)"
awk '/^(01:00\.[01]|02:00\.0) /{d=1; print; next} /^[0-9a-f]/{d=0} d' "$O/lspci-nnk.txt"
section "ls -l /dev/vfio"; cat "$O/dev-vfio.txt"
section "systemctl status pcie-passthroughd"; cat "$O/after-boot-status.txt"
section "pcie-passthroughctl status"; cat "$O/after-boot-ctl-status.txt"
section "busctl get-property … Device1 State"
for a in 0000:01:00.0 0000:01:00.1 0000:02:00.0; do printf '%s  %s\n' "$a" "$(cat "$O/state-$a.txt")"; done
section "stand-in pve-guests.service, when it started"; grep -E '^(ActiveState|driver 0000:0[12])' "$O/pve-guests-standin.txt"
section "times"; echo "QEMU wall ${VM_WALL}s ($(vm_accel)); multi-user.target reached and checks started at guest uptime $(cat "$O/uptime-runner")s"
