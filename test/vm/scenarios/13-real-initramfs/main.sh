#!/bin/bash
# One boot on Debian's real initramfs, built on the host by test/initramfs/real-mkinitramfs.sh with bochs and
# snd_hda_intel in it (early KMS): the claim ran there, before udev and before the root file system was mounted.
. /usr/local/lib/vm-test/guest-lib.sh
for a in 0000:01:00.0 0000:01:00.1; do
  run "claim-$a" dev_prop "$a" Claim
  run "claim-reason-$a" dev_prop "$a" ClaimReason
  run "state-$a" dev_prop "$a" State
done
run records sh -c 'grep -H . /run/pcie-passthroughd/claimed/* 2>/dev/null'
run initramfs-modules sh -c 'lsmod | grep -E "^(bochs|snd_hda_intel|vfio_pci) "'
run daemon-journal journalctl -b -u pcie-passthroughd -o cat --no-pager
run ctl-list pcie-passthroughctl list
exit 0
