title="1 boot: GPU+audio and spare NIC on vfio-pci before VM starters run"
devices() { vm_devices_standard; }
# shellcheck source=../bound-at-boot.sh
. "$VM_HERE/scenarios/bound-at-boot.sh"
check() {
  check_bound_at_boot "$(vm_out 1)"
  # Ordering: the stand-in pve-guests.service ran only after our unit was up, and saw the bindings.
  local s=$O/pve-guests-standin.txt
  expect_grep "stand-in pve-guests.service saw the daemon active" "$s" '^ActiveState=active'
  local ready now
  ready=$(sed -n 's/^ActiveEnterTimestampMonotonic=//p' "$s"); now=$(sed -n 's/^now_monotonic_us=//p' "$s")
  expect "daemon became ready ($ready us) before the stand-in started ($now us)" [ "${ready:-0}" -gt 0 -a "${ready:-0}" -le "${now:-0}" ]
  expect_eq "stand-in saw GPU, audio and NIC already on vfio-pci" \
    "$(grep -cE '^driver 0000:0(1:00\.[01]|2:00\.0) vfio-pci$' "$s")" 3
}
