title="4 live config change: add a device → bound, remove one → released, no restart"
devices() { vm_devices_standard; }
check() {
  O=$(vm_out 1)
  expect_eq "at start: GPU on vfio-pci" "$(dev_field 0000:01:00.0 driver "$O/start-devices.txt")" vfio-pci
  expect_eq "at start: spare NIC (not configured yet) on e1000e" "$(dev_field 0000:02:00.0 driver "$O/start-devices.txt")" e1000e
  expect_eq "added to config: NIC bound to vfio-pci without restart (took $(cat "$O/add-bound-after.txt")s)" "$(rc_of add-bound-after)" 0
  expect_eq "after adding: GPU still on vfio-pci" "$(dev_field 0000:01:00.0 driver "$O/added-devices.txt")" vfio-pci
  expect_eq "dropped from config: GPU back on bochs-drm (took $(cat "$O/gpu-released-after.txt")s)" "$(rc_of gpu-released-after)" 0
  expect_eq "dropped from config: audio back on snd_hda_intel" "$(rc_of audio-released-after)" 0
  expect_eq "released GPU has no driver_override left" "$(dev_field 0000:01:00.0 override "$O/removed-devices.txt")" "(null)"
  expect_eq "NIC still on vfio-pci after the GPU was dropped" "$(dev_field 0000:02:00.0 driver "$O/removed-devices.txt")" vfio-pci
  local pid0 pid2 n2
  pid0=$(sed -n 's/^MainPID=//p' "$O/start-show.txt"); pid2=$(sed -n 's/^MainPID=//p' "$O/removed-show.txt")
  n2=$(sed -n 's/^NRestarts=//p' "$O/removed-show.txt")
  expect "same daemon process throughout (MainPID $pid0 → $pid2, NRestarts=$n2)" [ -n "$pid0" -a "$pid0" != 0 -a "$pid0" = "$pid2" -a "$n2" = 0 ]
  expect "D-Bus: dropped GPU no longer bound ($(prop_value state-gpu-removed), Managed $(prop_value managed-gpu-removed))" \
    [ "$(prop_value state-gpu-removed)" != bound -o "$(rc_of state-gpu-removed)" != 0 ]
  expect_eq "D-Bus: NIC State bound" "$(prop_value state-nic-removed)" bound
}
