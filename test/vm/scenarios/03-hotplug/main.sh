#!/bin/bash
# The host hot-adds a configured device (QMP device_add), then removes it (device_del).
. /usr/local/lib/vm-test/guest-lib.sh
A=0000:03:00.0
snapshot_daemon before
signal_host ready-for-add
wait_host added 300 || { echo "host never added the device"; exit 1; }
run appeared wait_for 30 test -e "$GUEST_PCI/devices/$A"
run bound-after wait_for 60 is_driver "$A" vfio-pci
if [ "$(cat "$OUT/bound-after.rc")" != 0 ]; then
  # Not bound: record who is stuck where (guest kernel only: sysrq-w dumps blocked tasks to dmesg).
  run stuck-tasks /usr/local/lib/vm-test/stuck-tasks.sh
fi
run object-after wait_for 30 dev_prop "$A" State
run state-added dev_prop "$A" State
run claim-added dev_prop "$A" Claim
run dmesg-added dmesg
run add-to-bound ./add-to-bound.sh "$A"
run lspci-added lspci -nnk -s "$A"
run devices-added /usr/local/lib/vm-test/collect-devices.sh
run journal-added journalctl -b -u pcie-passthroughd -o cat --no-pager
signal_host checked-add
wait_host removed 300 || { echo "host never removed the device"; exit 1; }
run gone-after wait_for 30 test ! -e "$GUEST_PCI/devices/$A"
run object-gone-after wait_for 30 sh -c "! busctl introspect $BUS $(dev_path $A) >/dev/null 2>&1"
run managed-removed managed_objects
snapshot_daemon after
exit 0
