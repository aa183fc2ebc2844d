#!/bin/bash
# After multi-user.target: run the scenario's main.sh, collect what an admin would look at, then
# power off (or reboot when main.sh exits 100; the next boot gets the next boot-N folder).
set -u
SHARE=/run/vmtest/share
boot=$(cat /run/vmtest/boot)
out=$(readlink /run/vmtest/out)
cut -d' ' -f1 /proc/uptime >"$out/uptime-runner"
rc=0
if [ -x "$SHARE/scenario/main.sh" ]; then
  (cd "$SHARE/scenario" && BOOT=$boot OUT=$out SYNC=$SHARE/sync timeout 900 ./main.sh) >"$out/main.log" 2>&1
  rc=$?
fi
echo "$rc" >"$out/main.rc"
/usr/local/lib/vm-test/collect.sh "$out"
cut -d' ' -f1 /proc/uptime >"$out/uptime-done"
sync
if [ "$rc" = 100 ]; then
  echo "vm-test: boot $boot done, rebooting"
  systemctl reboot
else
  echo "vm-test: boot $boot done (main.sh exit $rc), powering off"
  systemctl poweroff
fi
