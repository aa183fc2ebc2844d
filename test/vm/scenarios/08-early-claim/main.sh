#!/bin/bash
# Boot 1: configured this boot, so the claim is late (bochs-drm first); the daemon writes the claims.
# Boot 2: the claims were there before coldplug: both functions on vfio-pci, no host driver probed them.
# Boot 3: after the GPU pair was dropped from the config in boot 2: back on bochs-drm / snd_hda_intel.
. /usr/local/lib/vm-test/guest-lib.sh
A=0000:01:00.0 B=0000:01:00.1
run claims cat /etc/pcie-passthroughd/early/claims
run records sh -c 'grep -H . /run/pcie-passthroughd/claimed/* 2>/dev/null'
run claim-uptime sh -c "sed -n 's/^uptime=//p' /run/pcie-passthroughd/claimed/$A"
for a in $A $B; do
  run "claim-$a" dev_prop "$a" Claim
  run "claim-reason-$a" dev_prop "$a" ClaimReason
  run "state-$a" dev_prop "$a" State
done
run ctl-status pcie-passthroughctl status
run ctl-list pcie-passthroughctl list
run ctl-check pcie-passthroughctl check
run daemon-journal journalctl -b -u pcie-passthroughd -o cat --no-pager
case $BOOT in
  1) run bound-1 wait_for 90 is_driver $B vfio-pci; exit 100 ;;
  2)
    # What boot 2 looked like before the drop (the end-of-boot collection runs after it).
    run lspci-before-drop lspci -nnk
    run dmesg-before-drop dmesg
    cp config-dropped.toml /etc/pcie-passthroughd/config.toml.new && mv /etc/pcie-passthroughd/config.toml.new /etc/pcie-passthroughd/config.toml
    run released wait_for 90 is_driver $A bochs-drm
    run claims-dropped sh -c 'sleep 2; cat /etc/pcie-passthroughd/early/claims'
    exit 100 ;;
esac
exit 0
