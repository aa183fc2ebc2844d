#!/bin/bash
. /usr/local/lib/vm-test/guest-lib.sh
snapshot_daemon after-boot
run state dev_prop 0000:02:00.0 State
run reason dev_prop 0000:02:00.0 Reason
exit 0
