# Shared by scenario 1 (first boot) and 7 (after a reboot).
# shellcheck shell=bash
# check_bound_at_boot DIR: the facts scenario 1 and the reboot scenario share.
check_bound_at_boot() {
  O=$1
  local a
  for a in 0000:01:00.0 0000:01:00.1 0000:02:00.0; do
    expect_eq "$a on vfio-pci (kernel's driver link)" "$(dev_field "$a" driver)" vfio-pci
    expect_eq "lspci -nnk: $a 'Kernel driver in use: vfio-pci'" "$(lspci_driver "$a")" vfio-pci
    expect "D-Bus Device1.State of $a is bound" [ "$(prop_value "state-$a")" = bound ]
  done
  local g
  for a in 0000:01:00.0 0000:02:00.0; do
    g=$(dev_field "$a" group)
    expect_grep "/dev/vfio/$g exists for $a" "$O/dev-vfio.txt" " $g\$"
  done
  expect_grep "edu 00:04.0 (not configured) left alone" "$O/devices.txt" '^0000:00:04\.0 .*driver=- '
  expect_grep "systemctl status: active (running)" "$O/after-boot-status.txt" 'Active: active \(running\)'
  expect_grep "systemctl status: a Status: line" "$O/after-boot-status.txt" '^ *Status: ".+"'
  expect_eq "GetManagedObjects: three device objects, all bound" \
    "$(managed_states "$O/after-boot-managed.txt" | awk '$1 ~ /^0000:0(1:00\.[01]|2:00\.0)$/ && $2 == "bound"' | wc -l)" 3
  expect_grep "Manager1.State ready" "$O/manager-state.txt" '"ready"'
  for a in 0000:01:00.0 0000:01:00.1 0000:02:00.0; do
    # (The early-claim line, "claimed late: bochs-drm bound first: …" or "claimed early: …", is not a binding.)
    expect_eq "journal: one line says $a was bound" \
      "$(grep -F -- "${a#0000:}" "$O/after-boot-journal.txt" | grep -v ': claimed \(early\|late\): ' | grep -ci 'bound')" 1
  done
  # The guest has no boot loader config, so the kernel-cmdline check warns (exit 1); nothing may fail.
  expect "pcie-passthroughctl check: no failure (exit $(rc_of ctl-check), 0 or 1)" [ "$(rc_of ctl-check)" = 0 -o "$(rc_of ctl-check)" = 1 ]
  expect_no_grep "pcie-passthroughctl check: no FAIL row" "$O/ctl-check.txt" '^FAIL'
}
