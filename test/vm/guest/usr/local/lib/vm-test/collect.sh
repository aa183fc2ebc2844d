#!/bin/bash
# What an admin looks at, saved into the result folder given as $1.
out=$1
systemctl is-system-running >"$out/system-state.txt" 2>&1   # first: before collecting changes anything
lspci -nnk >"$out/lspci-nnk.txt" 2>&1
/usr/local/lib/vm-test/collect-devices.sh >"$out/devices.txt"
ls -l /dev/vfio/ >"$out/dev-vfio.txt" 2>&1
for g in /sys/kernel/iommu_groups/*; do echo "${g##*/}: $(ls "$g/devices" | tr '\n' ' ')"; done >"$out/iommu-groups.txt" 2>&1
systemctl status pcie-passthroughd --no-pager -l -n 50 >"$out/systemctl-status.txt" 2>&1
systemctl show pcie-passthroughd >"$out/systemctl-show.txt" 2>&1
systemctl list-units --failed --no-pager >"$out/failed-units.txt" 2>&1
systemd-analyze >"$out/systemd-analyze.txt" 2>&1
journalctl -b --no-pager -o short-monotonic >"$out/journal.txt" 2>&1
journalctl -b --no-pager -o short-monotonic -u pcie-passthroughd >"$out/journal-daemon.txt" 2>&1
dmesg >"$out/dmesg.txt" 2>&1
ip -br addr >"$out/ip-addr.txt" 2>&1
uname -r >"$out/uname.txt"
cat /proc/cmdline >"$out/cmdline.txt"
