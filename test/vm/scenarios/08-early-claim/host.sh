title="8 early claim: GPU+audio claimed at add on the next boot (no bochs-drm / HDA codec probe), late in the boot they were configured; dropped + reboot: back on the host drivers"
VM_REBOOT=1
devices() { vm_devices_standard; }
check() {
  expect "the guest booted three times" [ -d "$(vm_out 3)" ]
  O=$(vm_out 1)
  expect_eq "boot 1: 01:00.0 claimed late (configured this boot)" "$(prop_value claim-0000:01:00.0)" late
  expect_grep "boot 1: ClaimReason names bochs-drm as the driver that bound first" "$O/claim-reason-0000:01:00.0.txt" 'bochs-drm bound first'
  expect_grep "boot 1: the daemon wrote the claim for 01:00.0" "$O/claims.txt" '^claim 0000:01:00\.0 '
  expect_grep "boot 1: and for 01:00.1 (functions = all), pinned to its ids" "$O/claims.txt" '^claim 0000:01:00\.1 0x8086 0x293e '

  O=$(vm_out 2)
  local a
  for a in 0000:01:00.0 0000:01:00.1; do
    expect_eq "boot 2: $a on vfio-pci (lspci -nnk)" "$(lspci_driver "$a" "$O/lspci-before-drop.txt")" vfio-pci
    expect_eq "boot 2: Device1.Claim of $a is early" "$(prop_value "claim-$a")" early
    expect_eq "boot 2: Device1.State of $a is bound" "$(prop_value "state-$a")" bound
    expect_grep "boot 2: the kernel log says the claim helper took $a before coldplug" "$O/dmesg-before-drop.txt" "pcie-passthroughd-claim: $a: claimed for vfio-pci at boot"
  done
  expect_no_grep "boot 2: no bochs-drm probe of 01:00.0 in dmesg" "$O/dmesg-before-drop.txt" 'bochs-drm 0000:01:00\.0|for 0000:01:00\.0 on minor'
  expect_no_grep "boot 2: no HDA controller/codec probe on 01:00.1 in dmesg" "$O/dmesg-before-drop.txt" 'snd_hda_intel 0000:01:00\.1|hdaudioC[0-9]D'
  expect_grep "boot 2: the console VGA 00:01.0 still got bochs-drm" "$O/dmesg-before-drop.txt" 'bochs-drm 0000:00:01\.0|for 0000:00:01\.0 on minor'
  expect_grep "boot 2: journal says claimed early" "$O/daemon-journal.txt" '0000:01:00\.0: claimed early: claimed at boot'
  expect_no_grep "boot 2: the daemon unbound nothing" "$O/daemon-journal.txt" 'bound to vfio-pci \(was '
  expect_grep "boot 2: list shows the claim" "$O/ctl-list.txt" "0000:01:00\\.0: claimed early"
  echo "  info  boot 2: claim of 01:00.0 ran at $(cat "$O/claim-uptime.txt" 2>/dev/null) s of uptime (before coldplug)"
  expect_eq "boot 2: dropped from config: GPU released to bochs-drm" "$(rc_of released)" 0
  expect_no_grep "boot 2: the claims lost 01:00.0/01:00.1 once dropped" "$O/claims-dropped.txt" '^claim 0000:01:00\.'

  O=$(vm_out 3)
  expect_eq "boot 3: GPU back on bochs-drm" "$(lspci_driver 0000:01:00.0)" bochs-drm
  expect_eq "boot 3: audio back on snd_hda_intel" "$(lspci_driver 0000:01:00.1)" snd_hda_intel
  expect_eq "boot 3: the NIC still claimed early" "$(lspci_driver 0000:02:00.0)" vfio-pci
}
