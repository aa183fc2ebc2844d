#!/bin/bash
# Tasks in uninterruptible sleep (D) with their kernel stacks, then the kernel's own blocked-task
# dump (sysrq-w, this guest only) — for a bind that never completes.
for p in /proc/[0-9]*; do
  read -r stat <"$p/stat" 2>/dev/null || continue
  rest=${stat##*) }
  [ "${rest%% *}" = D ] || continue
  echo "== pid ${p#/proc/} ($(tr '\0' ' ' <"$p/cmdline")) wchan=$(cat "$p/wchan" 2>/dev/null)"
  cat "$p/stack" 2>/dev/null
done
echo w >/proc/sysrq-trigger
sleep 1
dmesg | tail -n 80
