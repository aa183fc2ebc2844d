#!/usr/bin/env node
// Stand-in for `udevadm monitor --kernel --property`: prints udevadm's banner, then every event the
// test appends to $FAKE_UEVENTS (already in udevadm's output format), as the kernel would send them.
'use strict';
const fs = require('node:fs');
const file = process.env.FAKE_UEVENTS;
if (!file) {
  process.stderr.write('fake udevadm: FAKE_UEVENTS not set\n');
  process.exit(1);
}
process.stdout.write('monitor will print the received events for:\nKERNEL - the kernel uevent\n\n');
// Like the real monitor: it ends when a write finds nobody reading (EPIPE), and does not notice
// being orphaned otherwise (the daemon's parent-death signal is what must end it).
process.stdout.on('error', () => process.exit(0));
let offset = 0;
setInterval(() => {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return;
  }
  if (text.length > offset) {
    process.stdout.write(text.slice(offset));
    offset = text.length;
  }
}, 50);
