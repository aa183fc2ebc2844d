#!/bin/bash
# Mount the share, open this boot's result folder, run the scenario's prepare.sh (e.g. write config).
set -u
SHARE=/run/vmtest/share
mkdir -p "$SHARE"
modprobe -q 9pnet_virtio; modprobe -q 9p
for _ in $(seq 100); do
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share "$SHARE" 2>/dev/null && break
  sleep 0.1
done
mountpoint -q "$SHARE" || { echo "vm-test: cannot mount the 9p share 'share'"; exit 1; }
mkdir -p "$SHARE/out" "$SHARE/sync"
boot=$(( $(ls -d "$SHARE"/out/boot-* 2>/dev/null | wc -l) + 1 ))
out=$SHARE/out/boot-$boot
mkdir -p "$out"
echo "$boot" >/run/vmtest/boot
ln -sfn "$out" /run/vmtest/out
cut -d' ' -f1 /proc/uptime >"$out/uptime-prepare"
if [ -x "$SHARE/scenario/prepare.sh" ]; then
  (cd "$SHARE/scenario" && BOOT=$boot OUT=$out SYNC=$SHARE/sync ./prepare.sh) >"$out/prepare.log" 2>&1
  echo $? >"$out/prepare.rc"
fi
exit 0
