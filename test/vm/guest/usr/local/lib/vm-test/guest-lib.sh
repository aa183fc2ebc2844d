# Sourced by scenario scripts in the guest. $OUT: result folder, $SYNC: hand-shake folder on the share.
GUEST_PCI=/sys/bus/pci   # the guest kernel's sysfs: these helpers run inside the VM only
# shellcheck shell=bash
signal_host() { date +%s.%N >"$SYNC/$1"; }
# wait_host NAME [SECONDS]: wait until the host created $SYNC/NAME (e.g. after a QMP device_add).
wait_host() {
  local end=$(( $(date +%s) + ${2:-120} ))
  until [ -e "$SYNC/$1" ]; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.2; done
}
# wait_for SECONDS CMD...: poll CMD until it succeeds; prints the seconds it took.
wait_for() {
  local secs=$1; shift
  local start end now
  start=$(date +%s.%N); end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || { echo "timeout"; return 1; }
    sleep 0.2
  done
  now=$(date +%s.%N); awk -v a="$now" -v b="$start" 'BEGIN { printf "%.1f\n", a - b }'
}
driver_of() { local l; l=$(readlink "$GUEST_PCI/devices/$1/driver" 2>/dev/null) && echo "${l##*/}" || echo none; }
is_driver() { [ "$(driver_of "$1")" = "$2" ]; }
ctl() { pcie-passthroughctl "$@"; }
# run NAME CMD...: save CMD's output to $OUT/NAME.txt and its exit code to $OUT/NAME.rc.
run() {
  local name=$1; shift
  "$@" >"$OUT/$name.txt" 2>&1
  echo $? >"$OUT/$name.rc"
}
# D-Bus helpers (names from DESIGN.md).
BUS=org.pciepassthroughd
MGR=/org/pciepassthroughd
dev_path() { echo "/org/pciepassthroughd/devices/pci_$(echo "$1" | tr ':.' '__')"; }
dev_prop() { busctl get-property "$BUS" "$(dev_path "$1")" org.pciepassthroughd.Device1 "$2"; }
mgr_prop() { busctl get-property "$BUS" "$MGR" org.pciepassthroughd.Manager1 "$1"; }
managed_objects() { busctl --json=short call "$BUS" "$MGR" org.freedesktop.DBus.ObjectManager GetManagedObjects; }
# The daemon's state for an admin: systemd, D-Bus, journal, devices. $1: file prefix.
# (No CLI here: each Node start costs 5-15 s under TCG; scenarios call pcie-passthroughctl themselves.)
snapshot_daemon() {
  local p=$1
  run "$p-status" systemctl status pcie-passthroughd --no-pager -l -n 30
  run "$p-show" systemctl show pcie-passthroughd -p ActiveState -p SubState -p StatusText -p MainPID -p NRestarts
  run "$p-managed" managed_objects
  run "$p-manager-props" busctl --json=short call "$BUS" "$MGR" org.freedesktop.DBus.Properties GetAll s org.pciepassthroughd.Manager1
  run "$p-journal" journalctl -b -u pcie-passthroughd -o cat --no-pager
  run "$p-devices" /usr/local/lib/vm-test/collect-devices.sh
}
