# Host side of the VM harness, sourced by run.sh and demo.sh.
# Boots the guest built by build-image.sh with a chosen device set, talks QMP, waits with timeouts,
# and always kills its own QEMU by PID.
# shellcheck shell=bash

VM_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_REPO=$(cd "$VM_HERE/../.." && pwd)
VM_CACHE=${VM_CACHE:-$VM_REPO/.cache/vm}
VM_RUNS=${VM_RUNS:-$VM_CACHE/runs}
VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-600}   # seconds from QEMU start to its exit, per boot (TCG is slow)
VM_PID=""
VM_RUN=""

vm_log() { echo "[vm $(date +%T)] $*" >&2; }

# vm_image [--deb PATH]: build or reuse the cached kernel/initrd/image; sets VM_KERNEL VM_INITRD VM_IMAGE.
vm_image() {
  local env
  env=$(bash "$VM_HERE/build-image.sh" --print-env "$@") || return 1
  eval "$env"
}

# vm_build_deb: build the package from this tree (scripts/build-deb.sh, OUT_DIR in the cache so a
# stale .deb lying in the repo root is never tested by accident); print its path.
vm_build_deb() {
  local dir=$VM_CACHE/deb deb
  mkdir -p "$dir"
  if [ "${VM_SKIP_DEB_BUILD:-0}" != 1 ]; then
    vm_log "building the package (npm run deb, OUT_DIR=$dir)"
    rm -f "$dir"/pcie-passthroughd_*_all.deb
    (cd "$VM_REPO" && OUT_DIR=$dir SKIP_LINTIAN=1 npm run -s deb) >"$dir/build.log" 2>&1 ||
      { tail -n 30 "$dir/build.log" >&2; echo "vm: npm run deb failed (log: $dir/build.log)" >&2; return 1; }
  fi
  deb=$(ls -t "$dir"/pcie-passthroughd_*_all.deb "$VM_REPO"/pcie-passthroughd_*_all.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || { echo "vm: no pcie-passthroughd_*_all.deb (run npm run deb, or pass --deb PATH)" >&2; return 1; }
  echo "$deb"
}

# The accelerator is decided once per run (vm_decide_accel, in the calling shell, after vm_image) and
# proves itself: KVM only when a real guest kernel printed its first console line under it within
# VM_KVM_PROBE_SECONDS. A /dev/kvm that opens is not enough: a nested, pagetable-based host KVM
# ("kvm-pvm", no vmx/svm in /proc/cpuinfo) starts QEMU fine and then never runs the guest kernel
# (only the real-mode setup code prints "Probing EDD"). Everything else uses TCG.
VM_KVM_PROBE_SECONDS=${VM_KVM_PROBE_SECONDS:-20}
VM_ACCEL_WHY=""
# A line the guest kernel (a timestamped printk) or its systemd printed; the real-mode boot stub's
# "Probing EDD" does not count.
VM_KERNEL_LINE='^\[ *[0-9]+\.[0-9]{6}\] |Welcome to '

vm_decide_accel() {
  if [ -n "${VM_ACCEL:-}" ]; then
    VM_ACCEL_WHY=${VM_ACCEL_WHY:-"set by VM_ACCEL"}
  elif [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    VM_ACCEL=tcg; VM_ACCEL_WHY="no usable /dev/kvm"
  else
    local log secs
    log=$(mktemp "${TMPDIR:-/tmp}/vm-kvm-probe.XXXXXX")
    if secs=$(vm_kvm_probe "$log"); then
      VM_ACCEL=kvm; VM_ACCEL_WHY="a guest kernel printed its first console line under KVM in ${secs} s"
    else
      VM_ACCEL=tcg
      VM_ACCEL_WHY="/dev/kvm present but a guest printed nothing in ${VM_KVM_PROBE_SECONDS} s ($(vm_probe_said "$log"))"
    fi
    rm -f "$log"
  fi
  export VM_ACCEL VM_ACCEL_WHY
  vm_log "accel $VM_ACCEL: $VM_ACCEL_WHY"
}

# vm_kvm_probe LOG: boot VM_KERNEL alone under KVM (no disk, no initrd: it panics and exits after its
# first lines); succeed, printing the seconds it took, once the kernel's own line is on the serial log.
vm_kvm_probe() {
  local log=$1 pid t0 waited=0
  t0=$(date +%s%N)
  qemu-system-x86_64 -accel kvm -M q35 -m 256 -display none -nodefaults -no-reboot \
    -serial "file:$log" -kernel "$VM_KERNEL" -append "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1" \
    </dev/null >/dev/null 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((VM_KVM_PROBE_SECONDS * 10)) ]; do
    if grep -qE "$VM_KERNEL_LINE" "$log" 2>/dev/null; then
      kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
      awk -v ns=$(( $(date +%s%N) - t0 )) 'BEGIN { printf "%.1f\n", ns / 1e9 }'
      return 0
    fi
    sleep 0.1; waited=$((waited + 1))
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  grep -qE "$VM_KERNEL_LINE" "$log" 2>/dev/null
}

# What a failed probe's console showed, for the reason line.
vm_probe_said() {
  local text; text=$(tr -d '\r' <"$1" 2>/dev/null | tr '\n' ' ' | cut -c1-80)
  if [ -n "${text// /}" ]; then echo "console had only: ${text% }"; else echo "console stayed empty"; fi
}

# The accelerator decided for this run (vm_decide_accel must have run in the calling shell).
vm_accel() { echo "${VM_ACCEL:-unknown}"; }

# --- time limits -------------------------------------------------------------------------------
# VM_FIRST_OUTPUT_SECONDS: a guest whose kernel printed nothing by then is killed at once, with its
# serial log (under TCG on 2 cores the first line comes 4-20 s after QEMU starts).
VM_FIRST_OUTPUT_SECONDS=${VM_FIRST_OUTPUT_SECONDS:-90}
# VM_DEADLINE: epoch seconds by which the whole VM stage must be over (.ci/run sets it from its own
# budget); no wait goes past it, and no scenario starts that could not finish before it.
VM_DEADLINE=${VM_DEADLINE:-0}

# Seconds left before VM_DEADLINE (a large number when none is set).
vm_time_left() {
  if [ "$VM_DEADLINE" -gt 0 ]; then echo $(( VM_DEADLINE - $(date +%s) )); else echo 999999; fi
}

# vm_guard_limit LIMIT: the wait limit in seconds since QEMU's start, capped by the stage deadline.
vm_guard_limit() {
  local limit=$1 left
  left=$(vm_time_left)
  [ $(( $(vm_elapsed) + left )) -ge "$limit" ] || limit=$(( $(vm_elapsed) + left ))
  echo "$limit"
}

# vm_check_alive: fail (and kill QEMU) when the guest's kernel printed nothing within
# VM_FIRST_OUTPUT_SECONDS, or when the VM stage deadline has passed; VM_STOP_WHY says which.
vm_check_alive() {
  if [ "$(vm_elapsed)" -ge "$VM_FIRST_OUTPUT_SECONDS" ] && ! grep -qE "$VM_KERNEL_LINE" "$VM_RUN/serial.log" 2>/dev/null; then
    VM_STOP_WHY="the guest printed nothing on its console in ${VM_FIRST_OUTPUT_SECONDS} s ($(vm_accel))"
  elif [ "$(vm_time_left)" -le 0 ]; then
    VM_STOP_WHY="the VM stage deadline passed"
  else
    return 0
  fi
  vm_log "$VM_STOP_WHY: killing QEMU $VM_PID"
  vm_kill
  echo "----- serial log: $VM_RUN/serial.log"; tail -n 40 "$VM_RUN/serial.log" 2>/dev/null; echo "-----"
  return 1
}

# --- device sets: vm_devices_reset, then add what a scenario needs --------------------------
vm_devices_reset() {
  VM_ARGS=()
  # no_timer_check: under TCG on a loaded host the early IO-APIC timer test can miss its window and
  # panic ("timer doesn't work through Interrupt-remapped IO-APIC"); the check proves nothing here.
  VM_APPEND="console=ttyS0 root=/dev/vda rw panic=-1 loglevel=4 no_timer_check"
}
# Intel VT-d with interrupt remapping (needs the split irqchip) and the kernel flag.
vm_add_iommu() {
  VM_ARGS+=(-device intel-iommu,intremap=on,caching-mode=on)
  VM_APPEND+=" intel_iommu=on"
}
# "GPU + HDMI audio": one multifunction slot behind root port rp1 (guest 0000:01:00.0 and .1).
vm_add_gpu_audio() {
  VM_ARGS+=(-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x2.0x0,multifunction=on
    -device VGA,id=gpu0,bus=rp1,addr=0x0.0x0,multifunction=on
    -device ich9-intel-hda,id=hda0,bus=rp1,addr=0x0.0x1
    -audiodev none,id=snd0 -device hda-duplex,bus=hda0.0,audiodev=snd0)
}
# Spare NIC (e1000e, 8086:10d3) behind its own root port rp2 (guest 0000:02:00.0), link not configured.
vm_add_spare_nic() {
  VM_ARGS+=(-device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x2.0x1
    -netdev user,id=spare,restrict=on -device e1000e,id=nic1,netdev=spare,bus=rp2)
}
# QEMU's edu device (1234:11e8): no driver in any kernel (guest 0000:00:04.0).
vm_add_edu() { VM_ARGS+=(-device edu,id=edu0,bus=pcie.0,addr=0x4); }
# An empty root port rp3 (guest bus 03) for QMP device_add.
vm_add_free_port() {
  VM_ARGS+=(-device pcie-root-port,id=rp3,bus=pcie.0,chassis=3,slot=3,addr=0x2.0x2)
}
# A PCIe-to-PCI bridge behind root port rp4 with two conventional devices that therefore share
# one IOMMU group with the bridge: an e1000 NIC (8086:100e) and an i6300esb watchdog (8086:25ab).
vm_add_legacy_bridge() {
  VM_ARGS+=(-device pcie-root-port,id=rp4,bus=pcie.0,chassis=4,slot=4,addr=0x2.0x3
    -device pcie-pci-bridge,id=pbr0,bus=rp4
    -netdev user,id=legacy,restrict=on -device e1000,id=nic2,netdev=legacy,bus=pbr0,addr=0x1
    -device i6300esb,id=wdt0,bus=pbr0,addr=0x2)
}
# The host's own display (like a BMC or iGPU) on the root bus at 00:01.0: the firmware picks it as
# boot VGA, so the passthrough GPU behind rp1 is not the console (the daemon refuses the boot VGA).
vm_add_console_vga() { VM_ARGS+=(-device VGA,id=console0,bus=pcie.0,addr=0x1); }
# The set the issue describes: IOMMU, console VGA, GPU+audio, spare NIC, edu, a free hotplug port.
vm_devices_standard() {
  vm_devices_reset; vm_add_iommu; vm_add_console_vga; vm_add_gpu_audio; vm_add_spare_nic; vm_add_edu; vm_add_free_port
}

# vm_start NAME [SCENARIO_DIR]: boot in the background; results land in $VM_RUN/share/out/boot-N.
# Set VM_REBOOT=1 to let a guest reboot (the reboot scenario); otherwise a reboot ends QEMU.
vm_start() {
  local name=$1 scenario=${2:-}
  VM_RUN=$VM_RUNS/$name
  rm -rf "$VM_RUN"; mkdir -p "$VM_RUN/share/sync"
  if [ -n "$scenario" ]; then
    cp -aL "$scenario" "$VM_RUN/share/scenario"   # -L: scenarios may share a script by symlink
    chmod 0755 "$VM_RUN/share/scenario/"*.sh 2>/dev/null || true
  fi
  local accel=${VM_ACCEL:?vm_decide_accel first}
  local cmd=(qemu-system-x86_64 -accel "$accel" -M q35,kernel-irqchip=split -m 1536 -smp 2
    -display none -nodefaults -serial "file:$VM_RUN/serial.log"
    -kernel "$VM_KERNEL" -initrd "$VM_INITRD"
    # snapshot=on: the cached image is never written; guest writes live until QEMU exits (so they
    # survive a guest reboot, which the reboot scenario relies on).
    -drive "file=$VM_IMAGE,format=raw,if=none,id=root,cache=unsafe,snapshot=on"
    -device virtio-blk-pci,drive=root,bus=pcie.0,addr=0x5
    -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0,bus=pcie.0,addr=0x3
    -fsdev "local,id=fs0,path=$VM_RUN/share,security_model=none"
    -device virtio-9p-pci,fsdev=fs0,mount_tag=share,bus=pcie.0,addr=0x6
    -qmp "unix:$VM_RUN/qmp.sock,server=on,wait=off"
    "${VM_ARGS[@]}" -append "$VM_APPEND")
  [ "${VM_REBOOT:-0}" = 1 ] || cmd+=(-no-reboot)
  printf '%q ' "${cmd[@]}" >"$VM_RUN/qemu-cmdline.txt"
  VM_START_NS=$(date +%s%N); VM_STOP_WHY=""
  "${cmd[@]}" </dev/null >"$VM_RUN/qemu.log" 2>&1 &
  VM_PID=$!
  vm_log "$name: QEMU pid $VM_PID ($accel)"
}

vm_running() { [ -n "$VM_PID" ] && kill -0 "$VM_PID" 2>/dev/null; }
vm_elapsed() { echo $(( ($(date +%s%N) - VM_START_NS) / 1000000000 )); }

# Kill our QEMU (by PID only) and reap it.
vm_kill() {
  if vm_running; then
    kill "$VM_PID" 2>/dev/null
    for _ in $(seq 50); do vm_running || break; sleep 0.1; done
    vm_running && kill -9 "$VM_PID" 2>/dev/null
  fi
  [ -z "$VM_PID" ] || wait "$VM_PID" 2>/dev/null
  VM_PID=""
}

# vm_wait_exit [SECONDS]: wait for the guest to power off; on timeout (or a silent guest, or the stage
# deadline) kill QEMU and fail.
vm_wait_exit() {
  local limit; limit=$(vm_guard_limit "${1:-$VM_BOOT_TIMEOUT}")
  while vm_running; do
    vm_check_alive || { VM_WALL=$(vm_elapsed); return 1; }
    if [ "$(vm_elapsed)" -ge "$limit" ]; then
      VM_STOP_WHY="no power-off after ${limit}s"
      vm_log "timeout after ${limit}s: killing QEMU $VM_PID"
      vm_kill; VM_WALL=$limit; return 1
    fi
    sleep 1
  done
  wait "$VM_PID" 2>/dev/null; VM_PID=""
  VM_WALL=$(vm_elapsed)
}

# vm_wait_guest NAME [SECONDS]: wait for the guest's signal_host NAME (a file in the share).
vm_wait_guest() {
  local f=$VM_RUN/share/sync/$1 limit
  limit=$(vm_guard_limit "${2:-$VM_BOOT_TIMEOUT}")
  until [ -e "$f" ]; do
    vm_running || { vm_log "QEMU exited while waiting for guest signal '$1'"; return 1; }
    vm_check_alive || return 1
    [ "$(vm_elapsed)" -lt "$limit" ] || { vm_log "no guest signal '$1' after ${limit}s"; return 1; }
    sleep 0.5
  done
}
# vm_signal_guest NAME: the guest's wait_host NAME returns.
vm_signal_guest() { date +%s.%N >"$VM_RUN/share/sync/$1"; }

# vm_qmp 'JSON command' ...: run QMP commands, print the replies (one JSON object per line).
vm_qmp() {
  local input='{"execute":"qmp_capabilities"}'$'\n' c
  for c in "$@"; do input+=$c$'\n'; done
  printf '%s' "$input" | timeout 20 socat -t 3 - "UNIX-CONNECT:$VM_RUN/qmp.sock"
}

vm_out() { echo "$VM_RUN/share/out/boot-${1:-1}"; }
vm_last_boot() { ls -d "$VM_RUN"/share/out/boot-* 2>/dev/null | sort -V | tail -1; }

# Everything a failing scenario should show: serial console and the guest journal's tail.
vm_dump() {
  local out; out=$(vm_last_boot)
  echo "----- serial log (last 80 lines): $VM_RUN/serial.log"
  tail -n 80 "$VM_RUN/serial.log" 2>/dev/null
  if [ -n "$out" ]; then
    echo "----- guest journal (last 60 lines): $out/journal.txt"
    tail -n 60 "$out/journal.txt" 2>/dev/null
    echo "----- pcie-passthroughd journal (last 40 lines): $out/journal-daemon.txt"
    tail -n 40 "$out/journal-daemon.txt" 2>/dev/null
    [ ! -s "$out/main.log" ] || { echo "----- scenario output: $out/main.log"; tail -n 40 "$out/main.log"; }
  fi
  echo "-----"
}
