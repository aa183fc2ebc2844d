#!/bin/bash
# Boot 1: record, then reboot (exit 100). Boot 2: the bindings are back without anyone doing anything.
. /usr/local/lib/vm-test/guest-lib.sh
run lspci lspci -nnk
snapshot_daemon after-boot
for a in 0000:01:00.0 0000:01:00.1 0000:02:00.0; do run "state-$a" dev_prop "$a" State; done
run manager-state mgr_prop State
run ctl-check pcie-passthroughctl check
run previous-boot journalctl -b -1 -u pcie-passthroughd -o cat --no-pager
[ "$BOOT" -ge 2 ] || exit 100
exit 0
