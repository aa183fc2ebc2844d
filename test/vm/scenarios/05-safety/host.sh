title="5 safety: root disk controller and the host NIC in config are blocked with the reason"
devices() { vm_devices_standard; }
check() {
  O=$(vm_out 1)
  local f
  for f in devices.txt devices-after-reconcile.txt; do
    expect_eq "root disk 00:05.0 still on virtio-pci ($f)" "$(dev_field 0000:00:05.0 driver "$O/$f")" virtio-pci
    expect_eq "guest NIC 00:03.0 still on virtio-pci ($f)" "$(dev_field 0000:00:03.0 driver "$O/$f")" virtio-pci
  done
  expect_eq "no driver_override set on the root disk" "$(dev_field 0000:00:05.0 override)" "(null)"
  expect_eq "D-Bus: root disk State blocked" "$(prop_value state-0000:00:05.0)" blocked
  expect_grep "D-Bus: root disk Reason says it backs a mounted filesystem" "$O/reason-0000:00:05.0.txt" '(?i)mount|filesystem|root|disk|/dev/vda'
  expect_eq "D-Bus: host NIC State blocked" "$(prop_value state-0000:00:03.0)" blocked
  expect_grep "D-Bus: host NIC Reason says it is in use" "$O/reason-0000:00:03.0.txt" '(?i)network|interface|address|up|enp0s3'
  expect_grep "plan/CLI shows the block for 00:05.0" "$O/ctl-plan.txt" '(?i)(0000:)?00:05\.0.*block|block.*(0000:)?00:05\.0'
  expect_eq "the spare NIC in the same config is still bound" "$(dev_field 0000:02:00.0 driver)" vfio-pci
  expect_eq "guest disk still writable" "$(cat "$O/disk-write.txt")" alive
  expect_grep "guest NIC still up with its address" "$O/nic-up.txt" 'UP +10\.0\.2\.15/24'
  expect_grep "systemctl status says devices are blocked" "$O/after-boot-status.txt" '(?i)block'
  expect_grep "no unit failed" "$O/failed-units.txt" '^0 loaded units listed'
}
