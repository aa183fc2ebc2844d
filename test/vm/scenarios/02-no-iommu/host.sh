title="2 no IOMMU: check fails with the fix, nothing bound, reason on D-Bus and in systemctl status"
devices() {  # the standard set without the intel-iommu device and without intel_iommu=on
  vm_devices_reset; vm_add_console_vga; vm_add_gpu_audio; vm_add_spare_nic; vm_add_edu; vm_add_free_port
}
check() {
  O=$(vm_out 1)
  expect_no_grep "guest really has no IOMMU groups" "$O/devices.txt" 'group=[0-9]'
  local rc; rc=$(rc_of ctl-check)
  expect "pcie-passthroughctl check fails (exit $rc, 1 or 2)" [ "$rc" = 1 -o "$rc" = 2 ]
  # No intel-iommu device means no ACPI DMAR table: the fix is in the firmware, not the cmdline.
  expect_grep "check names the missing ACPI DMAR table" "$O/ctl-check.txt" '^FAIL +acpi-table'
  expect_grep "check prints the fix (enable the IOMMU in the firmware setup)" "$O/ctl-check.txt" '^FAIL .*Fix: .*(firmware|BIOS)'
  expect_no_grep "nothing is on vfio-pci" "$O/devices.txt" 'driver=vfio-pci'
  expect_eq "GPU still on bochs-drm" "$(dev_field 0000:01:00.0 driver)" bochs-drm
  expect_eq "audio still on snd_hda_intel" "$(dev_field 0000:01:00.1 driver)" snd_hda_intel
  expect_eq "spare NIC still on e1000e" "$(dev_field 0000:02:00.0 driver)" e1000e
  expect_no_grep "no driver_override left behind" "$O/devices.txt" 'override=vfio-pci'
  expect_eq "D-Bus Manager1.IommuEnabled is false" "$(prop_value iommu-enabled)" false
  local a
  for a in 0000:01:00.0 0000:01:00.1 0000:02:00.0; do
    expect "D-Bus Device1.State of $a is not bound ($(prop_value "state-$a"))" [ "$(prop_value "state-$a")" != bound -a -s "$O/state-$a.txt" ]
    expect_grep "D-Bus Device1.Reason of $a names the IOMMU" "$O/reason-$a.txt" '(?i)iommu'
  done
  expect_grep "systemctl status: the daemon keeps running" "$O/after-boot-status.txt" 'Active: active \(running\)'
  expect_grep "systemctl status: Status: line names the IOMMU" "$O/after-boot-status.txt" '(?i)^ *Status: ".*iommu'
}
