#!/bin/bash
. /usr/local/lib/vm-test/guest-lib.sh
snapshot_daemon after-boot
run viable dev_prop 0000:05:01.0 GroupViable
run state dev_prop 0000:05:01.0 State
run reason dev_prop 0000:05:01.0 Reason
run ctl-groups pcie-passthroughctl groups
run ctl-groups-json pcie-passthroughctl --json groups
exit 0
