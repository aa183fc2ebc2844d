#!/bin/bash
# Runs where Proxmox would start VMs: record the daemon's state and every device's driver right now.
out=$(readlink /run/vmtest/out)
{
  echo "uptime=$(cut -d' ' -f1 /proc/uptime)"
  echo "now_monotonic_us=$(awk '{printf "%d", $1 * 1000000}' /proc/uptime)"
  systemctl show pcie-passthroughd -p ActiveState -p SubState -p ActiveEnterTimestampMonotonic -p ExecMainStartTimestampMonotonic -p LoadState
  /usr/local/lib/vm-test/collect-devices.sh | sed -E 's/^([^ ]+) .* driver=([^ ]+) .*/driver \1 \2/'
} >"$out/pve-guests-standin.txt" 2>&1
