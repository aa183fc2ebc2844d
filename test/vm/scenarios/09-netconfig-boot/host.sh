title="9 network at boot: a NIC named only in the host's networkd config, configured by id, is blocked (file:line)"
devices() { vm_devices_standard; }
check() {
  O=$(vm_out 1)
  expect_eq "D-Bus: 02:00.0 State blocked" "$(prop_value state)" blocked
  expect_grep "D-Bus: Reason names the .network file and line" "$O/reason.txt" '20-uplink\.network:2'
  expect_eq "02:00.0 still on e1000e" "$(dev_field 0000:02:00.0 driver)" e1000e
  expect_eq "no driver_override on 02:00.0" "$(dev_field 0000:02:00.0 override)" "(null)"
}
