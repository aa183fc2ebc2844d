# The harness checks its own guest: devices, drivers and IOMMU groups as the issue describes them,
# with the daemon masked (nothing may have touched a driver).
title="baseline: guest devices, host drivers and IOMMU groups (daemon masked)"
devices() {
  vm_devices_standard; vm_add_legacy_bridge
  VM_APPEND+=" systemd.mask=pcie-passthroughd.service"
}
check() {
  O=$(vm_out 1)
  expect_grep "kernel is Debian's 6.1" "$O/uname.txt" '^6\.1\.'
  expect_grep "VT-d interrupt remapping on" "$O/dmesg.txt" 'DMAR-IR: Enabled IRQ remapping'
  expect_eq "GPU 01:00.0 is 1234:1111 on bochs-drm" "$(dev_field 0000:01:00.0 id):$(dev_field 0000:01:00.0 driver)" "1234:1111:bochs-drm"
  expect_eq "HDMI-audio 01:00.1 is 8086:293e on snd_hda_intel" "$(dev_field 0000:01:00.1 id):$(dev_field 0000:01:00.1 driver)" "8086:293e:snd_hda_intel"
  expect_eq "console VGA 00:01.0 is the boot VGA (bochs-drm)" "$(dev_field 0000:00:01.0 boot_vga):$(dev_field 0000:00:01.0 driver)" "1:bochs-drm"
  expect_eq "passthrough GPU 01:00.0 is not the boot VGA" "$(dev_field 0000:01:00.0 boot_vga)" 0
  local g_gpu g_audio g_nic
  g_gpu=$(dev_field 0000:01:00.0 group); g_audio=$(dev_field 0000:01:00.1 group); g_nic=$(dev_field 0000:02:00.0 group)
  expect "GPU and its audio share one IOMMU group ($g_gpu)" [ "$g_gpu" = "$g_audio" -a "$g_gpu" != - ]
  expect_eq "spare NIC 02:00.0 is 8086:10d3 on e1000e" "$(dev_field 0000:02:00.0 id):$(dev_field 0000:02:00.0 driver)" "8086:10d3:e1000e"
  expect "spare NIC has a group of its own ($g_nic)" [ "$g_nic" != - -a "$g_nic" != "$g_gpu" ]
  expect_eq "edu 00:04.0 has no driver" "$(dev_field 0000:00:04.0 id):$(dev_field 0000:00:04.0 driver)" "1234:11e8:-"
  expect_eq "root disk 00:05.0 on virtio-pci" "$(dev_field 0000:00:05.0 driver)" "virtio-pci"
  expect_eq "guest NIC 00:03.0 on virtio-pci" "$(dev_field 0000:00:03.0 driver)" "virtio-pci"
  expect_grep "guest NIC is up with its address" "$O/ip-addr.txt" 'UP +10\.0\.2\.15/24'
  local g_br g_e1000 g_wdt
  g_br=$(dev_field 0000:04:00.0 group); g_e1000=$(dev_field 0000:05:01.0 group); g_wdt=$(dev_field 0000:05:02.0 group)
  expect_eq "conventional e1000 05:01.0 on e1000" "$(dev_field 0000:05:01.0 id):$(dev_field 0000:05:01.0 driver)" "8086:100e:e1000"
  expect "PCIe-to-PCI bridge, e1000 and watchdog share one group ($g_br)" [ "$g_br" != - -a "$g_br" != absent -a "$g_br" = "$g_e1000" -a "$g_br" = "$g_wdt" ]
  expect_no_grep "no device is on vfio-pci" "$O/devices.txt" 'driver=vfio-pci'
  expect_grep "no unit failed" "$O/failed-units.txt" '^0 loaded units listed'
}
