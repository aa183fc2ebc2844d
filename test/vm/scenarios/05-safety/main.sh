#!/bin/bash
# The guest must stay healthy: its disk writable, its NIC up; the daemon says why it refused.
. /usr/local/lib/vm-test/guest-lib.sh
snapshot_daemon after-boot
for a in 0000:00:05.0 0000:00:03.0 0000:02:00.0; do
  run "state-$a" dev_prop "$a" State
  run "reason-$a" dev_prop "$a" Reason
done
run ctl-plan pcie-passthroughctl plan
run disk-write sh -c 'echo alive >/var/tmp/vmtest-alive && sync && cat /var/tmp/vmtest-alive'
run nic-up ip -br addr show
# Ask again explicitly (a reconcile over D-Bus) and make sure nothing changes.
run reconcile busctl call "$BUS" "$MGR" org.pciepassthroughd.Manager1 Reconcile
run devices-after-reconcile /usr/local/lib/vm-test/collect-devices.sh
exit 0
