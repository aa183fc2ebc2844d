title="7 reboot: still bound after a reboot"
VM_REBOOT=1
devices() { vm_devices_standard; }
# shellcheck source=../bound-at-boot.sh
. "$VM_HERE/scenarios/bound-at-boot.sh"
check() {
  expect "the guest booted twice" [ -d "$(vm_out 2)" ]
  check_bound_at_boot "$(vm_out 2)"
  expect_grep "boot 2: the journal still has boot 1's daemon log" "$O/previous-boot.txt" '(?i)bound'
}
