import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main as ctlMain } from '../../src/cli/main.js';
import { EXIT } from '../../src/cli/exit.js';
import { DAEMON_KEYS, DEVICE_KEYS } from '../../src/config/index.js';
import { main as daemonMain } from '../../src/daemon/main.js';

const run = promisify(execFile);
const repoFile = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));

/** The page as `man` shows it (man-db strips bold/underline when the output is not a terminal). */
async function renderMan(page: string): Promise<{ text: string; warnings: string }> {
  const { stdout, stderr } = await run('man', ['--warnings', '-l', repoFile(`man/${page}`)], {
    env: { ...process.env, MANWIDTH: '80', LC_ALL: 'C.UTF-8', MANPAGER: 'cat', PAGER: 'cat' },
  });
  return { text: stdout, warnings: stderr };
}

/** The lines of one section (from its heading to the next heading). */
function section(text: string, heading: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l === heading);
  expect(start, `section ${heading}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && /^[A-Z]/.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** Tags of a tagged-paragraph list (.TP): the lines indented by exactly 7 columns (a short tag shares its line with the text). */
function tags(sectionText: string): string[] {
  return sectionText.split('\n').filter((l) => /^ {7}\S/.test(l)).map((l) => l.trim());
}

const firstWord = (line: string): string => line.split(/\s+/)[0] ?? '';

async function ctlHelp(): Promise<string> {
  let text = '';
  const code = await ctlMain(['--help'], (s) => (text += s), () => undefined);
  expect(code).toBe(0);
  return text;
}

async function daemonHelp(): Promise<string> {
  let text = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => ((text += String(chunk)), true)) as typeof process.stdout.write;
  try {
    expect(await daemonMain(['--help'])).toBe(0);
  } finally {
    process.stdout.write = write;
  }
  return text;
}

function commandsOf(help: string): string[] {
  const block = help.slice(help.indexOf('Commands:'), help.indexOf('Options:'));
  return [...block.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1] ?? '');
}

function optionsOf(help: string): string[] {
  return [...new Set([...help.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]))].sort();
}

describe('manual pages', () => {
  it.each(['pcie-passthroughd.8', 'pcie-passthroughctl.8', 'pcie-passthroughd.toml.5'])('%s renders without groff warnings', async (page) => {
    const { text, warnings } = await renderMan(page);
    expect(warnings).toBe('');
    expect(text).toMatch(/^NAME$/m);
  });

  it('pcie-passthroughctl(8) documents every command, option and exit code of the CLI', async () => {
    const help = await ctlHelp();
    const { text } = await renderMan('pcie-passthroughctl.8');
    const commands = commandsOf(help);
    expect(commands.length).toBeGreaterThan(5);
    expect(tags(section(text, 'COMMANDS')).map(firstWord).sort()).toEqual([...commands].sort());
    const optionTags = tags(section(text, 'OPTIONS')).join(' ');
    for (const option of optionsOf(help)) expect(optionTags).toContain(option);
    const codes = tags(section(text, 'EXIT STATUS')).map(firstWord);
    expect(codes.sort()).toEqual(Object.values(EXIT).map(String).sort());
  });

  it('pcie-passthroughd(8) documents every option of the daemon', async () => {
    const help = await daemonHelp();
    const { text } = await renderMan('pcie-passthroughd.8');
    const optionTags = tags(section(text, 'OPTIONS')).join(' ');
    const options = optionsOf(help);
    expect(options).toContain('--bus');
    for (const option of options) expect(optionTags).toContain(option);
  });

  it('pcie-passthroughd.toml(5) documents every config key', async () => {
    const { text } = await renderMan('pcie-passthroughd.toml.5');
    const daemonKeys = tags(section(text, 'THE [daemon] TABLE')).filter((t) => t.includes(' = ')).map(firstWord);
    const deviceKeys = tags(section(text, 'THE [[device]] TABLES')).filter((t) => t.includes(' = ')).map(firstWord);
    expect(daemonKeys.sort()).toEqual([...DAEMON_KEYS].sort());
    expect(deviceKeys.sort()).toEqual([...DEVICE_KEYS].sort());
  });
});

describe('bash completion', () => {
  /** What bash offers for the words typed so far (the last one is being completed). */
  async function complete(...words: string[]): Promise<string[]> {
    const script = [
      `source ${JSON.stringify(repoFile('data/bash-completion/pcie-passthroughctl'))}`,
      'COMP_WORDS=(pcie-passthroughctl "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()',
      '_pcie_passthroughctl',
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const { stdout } = await run('bash', ['-c', script, 'complete', ...words]);
    return stdout.split('\n').filter(Boolean);
  }

  it('offers exactly the commands and options of the CLI', async () => {
    const help = await ctlHelp();
    expect((await complete('')).sort()).toEqual(commandsOf(help).sort());
    expect((await complete('--')).sort()).toEqual(optionsOf(help));
  });

  it('completes partial words, values of --bus, and only options after a command', async () => {
    expect((await complete('re')).sort()).toEqual(['reconcile', 'reload']);
    expect(await complete('--bus', 'se')).toEqual(['session']);
    expect(await complete('--root', '/tmp', 'check', '--j')).toEqual(['--json']);
    expect(await complete('--config', repoFile('data/config.t'))).toEqual([repoFile('data/config.toml')]);
  });
});
