'use strict';
/**
 * A Plan() flood: `node plan-flood.cjs ADDRESS CONNECTIONS CALLS_PER_CONNECTION [--hangup]`.
 * Opens CONNECTIONS bus connections, sends CALLS_PER_CONNECTION Plan() calls on each at once, and
 * prints one JSON line: how many were answered, refused (by name) and how long the answers took.
 * With --hangup every connection is closed right after sending (callers that went away).
 * Run it as nobody (setpriv) to flood as an unprivileged local user.
 */
const { Message, sessionBus } = require('dbus-next');

const [address, connections = '100', perConnection = '1', hangup] = process.argv.slice(2);
const NAME = 'org.pciepassthroughd';

async function main() {
  const buses = Array.from({ length: Number(connections) }, () => sessionBus({ busAddress: address }));
  await Promise.all(buses.map((b) => new Promise((resolve, reject) => {
    b.on('connect', resolve);
    b.on('error', reject);
  })));
  const started = performance.now();
  const latencies = [];
  const refused = {};
  let answered = 0;
  const calls = [];
  for (const b of buses) {
    for (let i = 0; i < Number(perConnection); i++) {
      const t = performance.now();
      const msg = new Message({ destination: NAME, path: '/org/pciepassthroughd', interface: 'org.pciepassthroughd.Manager1', member: 'Plan' });
      if (hangup === '--hangup') {
        b.send(msg);
        continue;
      }
      calls.push(b.call(msg).then(
        () => { answered++; latencies.push(performance.now() - t); },
        (e) => { const n = (e && e.type) || String(e); refused[n] = (refused[n] || 0) + 1; },
      ));
    }
  }
  await Promise.all(calls);
  for (const b of buses) b.disconnect();
  latencies.sort((a, b) => a - b);
  const pick = (q) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]) : null);
  process.stdout.write(JSON.stringify({ answered, refused, ms: { total: Math.round(performance.now() - started), p50: pick(0.5), p99: pick(0.99), max: pick(1) } }) + '\n');
  // dbus-next keeps sockets referenced for a moment after disconnect.
  setTimeout(() => process.exit(0), 100).unref();
}

main().catch((e) => {
  process.stderr.write(`plan-flood: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
