import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../src/setup/diff.js';
import { findAssignment } from '../../src/setup/grub.js';
import { editArgs } from '../../src/setup/kernel-params.js';
import { planSetup } from '../../src/setup/plan.js';
import type { SetupInput } from '../../src/setup/types.js';
import { intelHostFacts } from '../iommu/facts-fixtures.js';

const MODULES = 'vfio\nvfio_iommu_type1\nvfio_pci\n';

function input(overrides: Partial<SetupInput> = {}): SetupInput {
  return {
    facts: intelHostFacts({ kernelConfig: { CONFIG_INTEL_IOMMU: 'y' } }),
    iommuGroups: 12,
    files: { '/etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n', '/etc/modules': MODULES },
    grubDropIns: [],
    modulesLoadD: [],
    options: { iommuPt: false },
    initramfsStale: null,
    ...overrides,
  };
}

describe('kernel argument edits', () => {
  it('drops only the wrong option of a switch and keeps the others and every unrelated argument verbatim', () => {
    expect(editArgs('quiet intel_iommu=on,igfx_off foo="a b" amd_iommu=on,fullflush iommu=off').args).toBe('quiet intel_iommu=on,igfx_off foo="a b" amd_iommu=fullflush');
    expect(editArgs('root=/dev/sda1 vfio.enable_unsafe_noiommu_mode=1 quiet').args).toBe('root=/dev/sda1 quiet');
    expect(editArgs('root=/dev/sda1 vfio.enable_unsafe_noiommu_mode=0').changes).toEqual([]);
  });

  it('appends before `--` and leaves the init arguments after it alone', () => {
    const adds = [{ from: null, to: 'intel_iommu=on', why: 'x' }];
    expect(editArgs('root=/dev/sda1 -- amd_iommu=on single', adds).args).toBe('root=/dev/sda1 intel_iommu=on -- amd_iommu=on single');
  });
});

describe('GRUB assignments', () => {
  const files = (grub: string, dropIn?: string) => [{ path: '/etc/default/grub', text: grub }, ...(dropIn === undefined ? [] : [{ path: '/etc/default/grub.d/50-cloud.cfg', text: dropIn }])];

  it('takes the last assignment, in the last file grub-mkconfig sources, with its quoting', () => {
    const found = findAssignment(files('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX_DEFAULT=\'quiet splash\' # mine\n'), 'GRUB_CMDLINE_LINUX_DEFAULT');
    expect(found).toEqual({ kind: 'found', at: { file: '/etc/default/grub', index: 1, prefix: 'GRUB_CMDLINE_LINUX_DEFAULT=', quote: "'", value: 'quiet splash', suffix: ' # mine' } });
    const dropIn = findAssignment(files('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n', 'export GRUB_CMDLINE_LINUX_DEFAULT=console=ttyS0\n'), 'GRUB_CMDLINE_LINUX_DEFAULT');
    expect(dropIn).toMatchObject({ kind: 'found', at: { file: '/etc/default/grub.d/50-cloud.cfg', prefix: 'export GRUB_CMDLINE_LINUX_DEFAULT=', quote: '', value: 'console=ttyS0' } });
  });

  it('refuses a value computed by the shell', () => {
    expect(findAssignment(files('GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT quiet"\n'), 'GRUB_CMDLINE_LINUX_DEFAULT')).toEqual({
      kind: 'refused',
      refusal: { file: '/etc/default/grub', line: 1, problem: 'the value of GRUB_CMDLINE_LINUX_DEFAULT is computed by the shell ($, ` or \\ inside double quotes)' },
    });
    expect(findAssignment(files('GRUB_CMDLINE_LINUX=$(cat /etc/cmdline)\n'), 'GRUB_CMDLINE_LINUX')).toMatchObject({ kind: 'refused' });
  });
});

describe('the setup planner', () => {
  it('edits the drop-in that overrides /etc/default/grub, since that is the value grub-mkconfig uses', () => {
    const plan = planSetup(input({
      files: { ...input().files, '/etc/default/grub.d/50-cloud.cfg': 'GRUB_CMDLINE_LINUX_DEFAULT="console=ttyS0"\n' },
      grubDropIns: ['/etc/default/grub.d/50-cloud.cfg'],
    }));
    expect(plan.edits.map((e) => e.path)).toEqual(['/etc/default/grub.d/50-cloud.cfg']);
    expect(plan.edits[0]?.diff).toBe('--- /etc/default/grub.d/50-cloud.cfg\n+++ /etc/default/grub.d/50-cloud.cfg\n@@ -1 +1 @@\n-GRUB_CMDLINE_LINUX_DEFAULT="console=ttyS0"\n+GRUB_CMDLINE_LINUX_DEFAULT="console=ttyS0 intel_iommu=on"\n');
  });

  it('adds nothing on a kernel with the Intel IOMMU on by default, and a default-on kernel with intel_iommu=off only loses the off', () => {
    const defaultOn = intelHostFacts({ kernelConfig: { CONFIG_INTEL_IOMMU: 'y', CONFIG_INTEL_IOMMU_DEFAULT_ON: 'y' } });
    expect(planSetup(input({ facts: defaultOn })).edits).toEqual([]);
    const plan = planSetup(input({ facts: defaultOn, files: { ...input().files, '/etc/default/grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=off"\n' } }));
    expect(plan.edits[0]?.after).toBe('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n');
  });

  it('appends GRUB_CMDLINE_LINUX_DEFAULT when /etc/default/grub has none', () => {
    const plan = planSetup(input({ files: { '/etc/default/grub': 'GRUB_TIMEOUT=5', '/etc/modules': MODULES } }));
    expect(plan.edits[0]?.after).toBe('GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="intel_iommu=on"\n');
  });

  it('an unknown boot loader: the change is refused with what to do by hand', () => {
    const plan = planSetup(input({ facts: intelHostFacts({ bootloader: 'unknown', kernelConfig: { CONFIG_INTEL_IOMMU: 'y' } }), files: { '/etc/modules': MODULES } }));
    expect(plan.edits).toEqual([]);
    expect(plan.commands).toEqual([]);
    expect(plan.refused.map((r) => r.byHand)).toEqual(["edit your boot loader's kernel command line by hand: add `intel_iommu=on`, then run `your boot loader's update command`"]);
  });

  it('rebuilds the initramfs when the early-claim hook says it is stale, before the boot loader update', () => {
    const plan = planSetup(input({ initramfsStale: 'early claims changed' }));
    expect(plan.commands.map((c) => c.argv.join(' '))).toEqual(['update-initramfs -u -k all', 'update-grub']);
  });
});

describe('unified diff', () => {
  it('marks a missing final newline and keeps separate hunks apart', () => {
    const before = Array.from({ length: 12 }, (_, i) => `l${i + 1}`).join('\n');
    const after = before.replace('l2', 'L2').replace('l12', 'L12');
    expect(unifiedDiff('/f', before, after)).toBe(['--- /f', '+++ /f', '@@ -1,5 +1,5 @@', ' l1', '-l2', '+L2', ' l3', ' l4', ' l5', '@@ -9,4 +9,4 @@', ' l9', ' l10', ' l11', '-l12', '\\ No newline at end of file', '+L12', '\\ No newline at end of file', ''].join('\n'));
    expect(unifiedDiff('/f', 'a\n', 'a\n')).toBe('');
    expect(unifiedDiff('/f', 'a', 'a\n')).toBe('--- /f\n+++ /f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n');
  });
});
