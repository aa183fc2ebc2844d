#!/bin/bash
# Edit the config while the daemon runs: a device added is bound, a device dropped is released,
# and the daemon never restarts.
. /usr/local/lib/vm-test/guest-lib.sh
CONF=/etc/pcie-passthroughd/config.toml
snapshot_daemon start
# An editor writing in place.
cat config-add.toml >"$CONF"
run add-bound-after wait_for 60 is_driver 0000:02:00.0 vfio-pci
snapshot_daemon added
# A tool replacing the file (write elsewhere, rename over it).
cp config-remove.toml "$CONF.new" && mv "$CONF.new" "$CONF"
run gpu-released-after wait_for 60 is_driver 0000:01:00.0 bochs-drm
run audio-released-after wait_for 60 is_driver 0000:01:00.1 snd_hda_intel
sleep 2
snapshot_daemon removed
run state-gpu-removed dev_prop 0000:01:00.0 State
run managed-gpu-removed dev_prop 0000:01:00.0 Managed
run state-nic-removed dev_prop 0000:02:00.0 State
exit 0
