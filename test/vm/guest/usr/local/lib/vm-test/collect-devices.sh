#!/bin/bash
# One line per PCI function: address, class, ids, bound driver, IOMMU group, driver_override.
for d in /sys/bus/pci/devices/*; do
  a=${d##*/}
  drv=$(readlink "$d/driver" 2>/dev/null); drv=${drv##*/}; drv=${drv// /_}   # "i6300ESB timer"
  grp=$(readlink "$d/iommu_group" 2>/dev/null); grp=${grp##*/}
  printf '%s class=%s id=%s:%s driver=%s group=%s override=%s\n' "$a" "$(cat "$d/class")" \
    "$(cat "$d/vendor")" "$(cat "$d/device")" "${drv:--}" "${grp:--}" "$(cat "$d/driver_override" 2>/dev/null)"
done | sed 's/id=0x\([0-9a-f]*\):0x/id=\1:/'
