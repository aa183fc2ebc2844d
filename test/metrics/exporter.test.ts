import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SEED, seedIntel } from '../fake/hosts.js';
import { buildHost, tempTreeDir, type FakeHost } from '../fake/tree.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { promtoolCheck, sampleValue, startNodeExporter, type NodeExporter } from '../helpers/prometheus.js';
import { runCtl } from '../helpers/run.js';

const TEXTFILE_DIR = 'var/lib/prometheus/node-exporter';
let host: FakeHost | null = null;
let daemon: RunningDaemon | null = null;
let exporter: NodeExporter | null = null;

afterEach(async () => {
  await exporter?.stop();
  await daemon?.stop();
  host?.cleanup();
  exporter = null;
  daemon = null;
  host = null;
});

function writeConfig(h: FakeHost, text: string): void {
  mkdirSync(join(h.root, 'etc/pcie-passthroughd'), { recursive: true });
  writeFileSync(join(h.root, 'etc/pcie-passthroughd/config.toml'), text);
}

const gpuLabels = 'segment="0000",bus="01",device="00",function="0"';
const GPU = { segment: '0000', bus: '01', device: '00', function: '0' };

describe('Prometheus metrics end to end (fake kernel, real promtool and node_exporter)', () => {
  it('the daemon writes the textfile after every reconcile; Debian\'s node_exporter serves it without a scrape error', async () => {
    host = await buildHost(tempTreeDir(), seedIntel());
    mkdirSync(join(host.root, TEXTFILE_DIR), { recursive: true });
    writeConfig(host, `[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n`);
    daemon = startDaemon(host, 'none');
    await daemon.waitForLog((l) => l.msg === 'ready');
    const file = join(host.root, TEXTFILE_DIR, 'pcie-passthroughd.prom');
    await daemon.waitForLog((l) => l.msg.startsWith('writing metrics to /var/lib/prometheus/node-exporter/pcie-passthroughd.prom'));
    const text = readFileSync(file, 'utf8');
    expect((await promtoolCheck(text)).code).toBe(0);
    expect(text).toContain(`pcie_passthroughd_device_state{${gpuLabels},state="bound"} 1`);
    expect(text).toContain('pcie_passthroughd_reconciles_total 1');

    exporter = await startNodeExporter(join(host.root, TEXTFILE_DIR));
    const scraped = await exporter.scrape();
    expect(scraped).toMatch(/^node_textfile_scrape_error 0$/m);
    expect(sampleValue(scraped, 'pcie_passthroughd_device_on_target_driver', GPU)).toBe('1');
    expect(sampleValue(scraped, 'pcie_passthroughd_state', { state: 'ready' })).toBe('1');
    expect(scraped).toMatch(/^node_textfile_mtime_seconds\{file="[^"]*pcie-passthroughd\.prom"\} /m);

    // a second reconcile (the config changes): counted, the file replaced
    writeConfig(host, `[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n\n[[device]]\naddress = "${SEED.spareNic}"\n`);
    await daemon.waitForLog((l) => l.msg.includes(`${SEED.spareNic}: bound`));
    const until = Date.now() + 10_000;
    while (!readFileSync(file, 'utf8').includes('pcie_passthroughd_managed_devices 3') && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(file, 'utf8')).toMatch(/^pcie_passthroughd_reconciles_total [2-9]$/m);
    const again = await exporter.scrape();
    expect(again).toMatch(/^node_textfile_scrape_error 0$/m);
    expect(sampleValue(again, 'pcie_passthroughd_managed_devices')).toBe('3');
  });

  it('metrics_textfile in [daemon] moves the file; "" turns it off even when the default directory exists', async () => {
    host = await buildHost(tempTreeDir(), seedIntel());
    mkdirSync(join(host.root, TEXTFILE_DIR), { recursive: true });
    mkdirSync(join(host.root, 'srv/prom'), { recursive: true });
    writeConfig(host, `[daemon]\nmetrics_textfile = "/srv/prom/ppd.prom"\n`);
    daemon = startDaemon(host, 'none');
    await daemon.waitForLog((l) => l.msg === 'writing metrics to /srv/prom/ppd.prom after every reconcile');
    expect(readFileSync(join(host.root, 'srv/prom/ppd.prom'), 'utf8')).toContain('pcie_passthroughd_managed_devices 0');
    expect(existsSync(join(host.root, TEXTFILE_DIR, 'pcie-passthroughd.prom'))).toBe(false);
    await daemon.stop();

    writeConfig(host, `[daemon]\nmetrics_textfile = ""\n`);
    daemon = startDaemon(host, 'none');
    await daemon.waitForLog((l) => l.msg === 'ready');
    await daemon.waitForLog((l) => l.msg === 'not writing metrics (metrics_textfile = "")');
    expect(existsSync(join(host.root, TEXTFILE_DIR, 'pcie-passthroughd.prom'))).toBe(false);
  });

  it('a metrics_textfile that is not a .prom path is a config error with file:line:column', async () => {
    host = await buildHost(tempTreeDir(), seedIntel());
    writeConfig(host, `[daemon]\nmetrics_textfile = "relative/x.txt"\n`);
    const r = await runCtl(['--root', host.root, 'plan'], host.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config\.toml:2:\d+: metrics_textfile must be an absolute path ending in "\.prom"/);
  });

  it('pcie-passthroughctl metrics prints the same series from a direct read, valid for promtool; a broken config is config_error 1, exit 2', async () => {
    host = await buildHost(tempTreeDir(), seedIntel());
    writeConfig(host, `[[device]]\naddress = "${SEED.gpu}"\nfunctions = "all"\n`);
    const r = await runCtl(['--root', host.root, 'metrics'], host.env);
    expect(r.code).toBe(0);
    expect((await promtoolCheck(`${r.stdout}`)).code).toBe(0);
    expect(r.stdout).toContain(`pcie_passthroughd_device_state{${gpuLabels},state="pending"} 1`);
    expect(r.stdout).toContain(`pcie_passthroughd_device_driver_info{${gpuLabels},driver="nvidia",target_driver="vfio-pci"} 1`);
    expect(r.stdout).toContain('pcie_passthroughd_config_error 0');
    expect(r.stdout).not.toContain('reconciles_total'); // only the daemon counts reconciles

    writeConfig(host, `[[device]]\naddres = "${SEED.gpu}"\n`);
    const broken = await runCtl(['--root', host.root, 'metrics'], host.env);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/config\.toml:2:1/);
    expect(broken.stdout).toContain('pcie_passthroughd_config_error 1');
    expect((await promtoolCheck(broken.stdout)).code).toBe(0);
  });
});
