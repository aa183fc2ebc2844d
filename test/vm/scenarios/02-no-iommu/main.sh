#!/bin/bash
# No VT-d in this machine: the daemon must refuse to bind and say why, everywhere an admin looks.
. /usr/local/lib/vm-test/guest-lib.sh
run lspci lspci -nnk
snapshot_daemon after-boot
run ctl-check pcie-passthroughctl check
run iommu-enabled mgr_prop IommuEnabled
run manager-state mgr_prop State
for a in 0000:01:00.0 0000:01:00.1 0000:02:00.0; do
  run "state-$a" dev_prop "$a" State
  run "reason-$a" dev_prop "$a" Reason
done
exit 0
