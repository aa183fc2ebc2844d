title="2b IOMMU switched off on the kernel command line (intel_iommu=off): check names the parameter to remove"
devices() {  # VT-d present (ACPI DMAR table), but the admin's cmdline turns it off
  vm_devices_standard
  VM_APPEND=${VM_APPEND/intel_iommu=on/intel_iommu=off}
}
check() {
  O=$(vm_out 1)
  expect_grep "guest cmdline has intel_iommu=off" "$O/cmdline.txt" 'intel_iommu=off'
  expect_no_grep "guest has no IOMMU groups" "$O/devices.txt" 'group=[0-9]'
  local rc; rc=$(rc_of ctl-check)
  expect "pcie-passthroughctl check fails (exit $rc, 1 or 2)" [ "$rc" = 1 -o "$rc" = 2 ]
  expect_grep "check's fix names intel_iommu=off as the culprit" "$O/ctl-check.txt" '^FAIL .*Fix: .*intel_iommu=off'
  expect_no_grep "nothing is on vfio-pci" "$O/devices.txt" 'driver=vfio-pci'
  expect_eq "D-Bus Manager1.IommuEnabled is false" "$(prop_value iommu-enabled)" false
  expect "D-Bus: GPU not bound ($(prop_value state-0000:01:00.0))" [ "$(prop_value state-0000:01:00.0)" != bound -a -s "$O/state-0000:01:00.0.txt" ]
  expect_grep "systemctl status: Status: line names the IOMMU" "$O/after-boot-status.txt" '(?i)^ *Status: ".*iommu'
}
