#!/bin/sh
# Kernel time of the device's enumeration (dmesg "pci ADDR: [vvvv:dddd]") and uptime of the early claim
# (the claim helper's record), in seconds: how long a hot-added configured device waited for vfio-pci.
a=$1
seen=$(dmesg | grep -m1 "pci $a: \[" | sed 's/^\[ *\([0-9.]*\)\].*/\1/')
claimed=$(sed -n 's/^uptime=//p' "/run/pcie-passthroughd/claimed/$a" 2>/dev/null)
bound=$(dmesg | grep -m1 "pcie-passthroughd-claim: $a: claimed" | sed 's/^\[ *\([0-9.]*\)\].*/\1/')
echo "enumerated ${seen:-?} s, claim ran ${claimed:-?} s (uptime), claim done ${bound:-?} s"
if [ -n "$seen" ] && [ -n "$bound" ]; then awk -v s="$seen" -v b="$bound" 'BEGIN { printf "add -> on vfio-pci: %.3f s\n", b - s }'; fi
