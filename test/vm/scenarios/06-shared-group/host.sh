title="6 shared IOMMU group (PCIe-to-PCI bridge + two conventional devices): reported not viable"
devices() { vm_devices_standard; vm_add_legacy_bridge; }
check() {
  O=$(vm_out 1)
  local g; g=$(dev_field 0000:05:01.0 group)
  expect "e1000 05:01.0 and watchdog 05:02.0 share group $g" [ "$g" != - -a "$g" = "$(dev_field 0000:05:02.0 group)" ]
  expect_eq "D-Bus: GroupViable false for 05:01.0" "$(prop_value viable)" false
  expect_grep "D-Bus: Reason or state names the group" "$O/reason.txt" '(?i)group|viable|05:02\.0'
  local grp='(Array.isArray(d) ? d : d.groups).find((g) => g.members.some((m) => m.address === "0000:05:01.0"))'
  expect_eq "groups --json: the e1000's group is not viable" "$(json_eval "$O/ctl-groups-json.txt" "$grp.viable")" false
  expect_eq "groups --json: that group holds bridge, e1000 and watchdog" \
    "$(json_eval "$O/ctl-groups-json.txt" "$grp.members.map((m) => m.address).sort().join(' ')")" "0000:04:00.0 0000:05:01.0 0000:05:02.0"
  expect_grep "groups (text) lists the watchdog 05:02.0 on its driver" "$O/ctl-groups.txt" '05:02\.0 \(i6300ESB'
  expect_eq "the unrelated watchdog was not taken (still on its host driver)" "$(dev_field 0000:05:02.0 driver)" i6300ESB_timer
  expect_grep "daemon active" "$O/after-boot-status.txt" 'Active: active \(running\)'
}
