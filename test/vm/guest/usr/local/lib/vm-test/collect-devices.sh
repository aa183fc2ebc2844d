#!/bin/bash
# One line per PCI function: address, class, ids, bound driver, IOMMU group, driver_override, boot_vga.
# The guest's own sysfs (this runs inside the VM only).
GUEST_PCI=/sys/bus/pci
# Builtins and two find calls only: under TCG every exec costs a noticeable fraction of a second.
declare -A drv grp
while read -r dir link; do a=${dir%/driver}; a=${a##*/}; link=${link##*/}; drv[$a]=${link// /_}; done \
  < <(find $GUEST_PCI/devices/*/driver -maxdepth 0 -printf '%p %l\n' 2>/dev/null)   # "i6300ESB timer"
while read -r dir link; do a=${dir%/iommu_group}; a=${a##*/}; grp[$a]=${link##*/}; done \
  < <(find $GUEST_PCI/devices/*/iommu_group -maxdepth 0 -printf '%p %l\n' 2>/dev/null)
for d in $GUEST_PCI/devices/*; do
  a=${d##*/}
  read -r class <"$d/class"; read -r vendor <"$d/vendor"; read -r device <"$d/device"
  override=; read -r override <"$d/driver_override" 2>/dev/null
  bootvga=-; [ ! -e "$d/boot_vga" ] || read -r bootvga <"$d/boot_vga"
  printf '%s class=%s id=%s:%s driver=%s group=%s override=%s boot_vga=%s\n' "$a" "$class" \
    "${vendor#0x}" "${device#0x}" "${drv[$a]:--}" "${grp[$a]:--}" "$override" "$bootvga"
done
