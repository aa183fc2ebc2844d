#!/bin/bash
# After boot: what an admin checks (lspci, /dev/vfio, systemctl, D-Bus, CLI, journal).
. /usr/local/lib/vm-test/guest-lib.sh
run lspci lspci -nnk
snapshot_daemon after-boot
for a in 0000:01:00.0 0000:01:00.1 0000:02:00.0; do
  run "state-$a" dev_prop "$a" State
  run "group-$a" dev_prop "$a" IommuGroup
done
run manager-state mgr_prop State
run ctl-check pcie-passthroughctl check
run after-boot-ctl-status pcie-passthroughctl status
exit 0
