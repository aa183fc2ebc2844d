title="13 real initramfs: Debian's mkinitramfs image with bochs + snd_hda_intel carries the claims; the GPU pair is on vfio-pci before the root is mounted, never on its host drivers"
# Boots the initramfs that test/initramfs/real-mkinitramfs.sh builds (and checks) in a bookworm chroot with
# Debian's initramfs-tools, this run's .deb and the guest's kernel, instead of the harness's busybox initrd.
devices() {
  vm_devices_standard
  [ "$CHECK_ONLY" = 0 ] || return 0
  local log=$VM_CACHE/real-mkinitramfs-13.log initrd=$VM_CACHE/initrd-real-13.img
  rm -f "$initrd"
  if bash "$VM_REPO/test/initramfs/real-mkinitramfs.sh" --deb "$DEB" --kernel-dir "${VM_KERNEL%/boot/*}" --out "$initrd" >"$log" 2>&1; then
    pass "Debian's initramfs-tools built it with our hook; contents and helper checked ($(tail -n1 "$log"))"
    VM_INITRD=$initrd
  else
    fail "Debian's initramfs-tools built it with our hook (test/initramfs/real-mkinitramfs.sh)" "$(tail -n 20 "$log")"
  fi
  grep '^  ok ' "$log" | sed 's/^  ok  /  info/' || true
}
check() {
  O=$(vm_out 1)
  expect_grep "booted from Debian's initramfs (its init ran the init-top scripts)" "$O/dmesg.txt" 'pcie-passthroughd-claim: 0000:01:00\.0: claimed for vfio-pci at initramfs-boot'
  local a mounted claimed
  mounted=$(grep -nE 'EXT4-fs \(vda\): mounted filesystem' "$O/dmesg.txt" | head -1 | cut -d: -f1)
  for a in 0000:01:00.0 0000:01:00.1; do
    claimed=$(grep -n "pcie-passthroughd-claim: $a: claimed for vfio-pci at initramfs-boot" "$O/dmesg.txt" | head -1 | cut -d: -f1)
    expect "$a claimed in the initramfs before the root file system was mounted (dmesg line ${claimed:-none} < ${mounted:-none})" \
      test -n "$claimed" -a -n "$mounted" -a "${claimed:-0}" -lt "${mounted:-0}"
    expect_eq "$a on vfio-pci (lspci -nnk)" "$(lspci_driver "$a")" vfio-pci
    expect_eq "Device1.Claim of $a is early" "$(prop_value "claim-$a")" early
    expect_grep "ClaimReason of $a names the initramfs" "$O/claim-reason-$a.txt" 'claimed at initramfs-boot'
  done
  expect_grep "bochs-drm was in the initramfs and bound the console VGA 00:01.0 there" "$O/dmesg.txt" 'bochs-drm 0000:00:01\.0|for 0000:00:01\.0 on minor'
  expect_grep "snd_hda_intel was loaded" "$O/initramfs-modules.txt" '^snd_hda_intel '
  expect_no_grep "no bochs-drm probe of 01:00.0 in dmesg" "$O/dmesg.txt" 'bochs-drm 0000:01:00\.0|for 0000:01:00\.0 on minor'
  expect_no_grep "no HDA controller/codec probe on 01:00.1 in dmesg" "$O/dmesg.txt" 'snd_hda_intel 0000:01:00\.1|hdaudioC[0-9]D'
  expect_no_grep "the daemon unbound nothing" "$O/daemon-journal.txt" 'bound to vfio-pci \(was '
  local up; up=$(sed -n 's/^.*0000:01:00\.0:uptime=//p' "$O/records.txt" | head -1)
  echo "  info  01:00.0 claimed at ${up:-?} s of uptime; root mounted at $(sed -n "${mounted:-0}p" "$O/dmesg.txt" | sed -E 's/^\[ *([0-9.]+)\].*/\1/') s"
}
