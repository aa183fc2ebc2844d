/**
 * libvirt's persistent domain XML (/etc/libvirt/qemu/<name>.xml), pure over the file text, parsed
 * with sax (strict XML, positions for errors and for each element). Host PCI devices are
 * `<hostdev mode='subsystem' type='pci'>` and SR-IOV `<interface type='hostdev'>`, both with the
 * host address in `<source><address domain bus slot function/>`; the `<address>` directly under
 * the hostdev is where the guest sees it and is not the host's.
 */
import sax from 'sax';
import { libvirtAddress } from './pci-ref.js';
import type { GuestProblem } from './types.js';
import type { Address } from '../model.js';

export interface LibvirtHostdev {
  address: Address;
  /** managed='yes': libvirt unbinds it from the host driver at start; libvirt's default is no. */
  managed: boolean;
  line: number;
  via: 'hostdev' | "interface type='hostdev'";
}

export interface LibvirtDomain {
  name: string;
  uuid: string;
  hostdevs: LibvirtHostdev[];
  problems: GuestProblem[];
}

interface Element {
  name: string;
  attrs: Record<string, string>;
  line: number;
  children: Element[];
  text: string;
}

function tree(text: string, file: string): { root: Element | null; problem: GuestProblem | null } {
  const parser = sax.parser(true, { position: true, trim: false });
  const stack: Element[] = [];
  let root: Element | null = null;
  let problem: GuestProblem | null = null;
  // The first error is the one to report (sax goes on and finds follow-up errors): keep its position.
  parser.onerror = (e) => {
    problem ??= { file, line: parser.line + 1, message: `not well-formed XML: ${e.message.split('\n')[0] ?? ''}` };
  };
  parser.onopentag = (tag) => {
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(tag.attributes)) attrs[k] = typeof v === 'string' ? v : v.value;
    const el: Element = { name: tag.name, attrs, line: parser.line + 1, children: [], text: '' };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root ??= el;
    stack.push(el);
  };
  parser.onclosetag = () => {
    stack.pop();
  };
  parser.ontext = (t) => {
    const top = stack[stack.length - 1];
    if (top) top.text += t;
  };
  try {
    parser.write(text).close();
  } catch (e) {
    problem ??= { file, line: parser.line + 1, message: `not well-formed XML: ${(e as Error).message.split('\n')[0] ?? ''}` };
  }
  if (problem === null && stack.length > 0) problem = { file, line: parser.line + 1, message: `<${stack[stack.length - 1]?.name ?? ''}> is never closed` };
  return { root: problem ? null : root, problem };
}

function child(el: Element, name: string): Element | undefined {
  return el.children.find((c) => c.name === name);
}

export function parseLibvirtDomain(text: string, file: string): LibvirtDomain {
  const domain: LibvirtDomain = { name: '', uuid: '', hostdevs: [], problems: [] };
  const { root, problem } = tree(text, file);
  if (problem) {
    domain.problems.push(problem);
    return domain;
  }
  if (!root || root.name !== 'domain') {
    domain.problems.push({ file, line: root?.line ?? 1, message: `not a libvirt domain: the root element is <${root?.name ?? ''}>, not <domain>` });
    return domain;
  }
  domain.name = child(root, 'name')?.text.trim() ?? '';
  domain.uuid = child(root, 'uuid')?.text.trim().toLowerCase() ?? '';
  const devices = child(root, 'devices');
  for (const el of devices?.children ?? []) {
    const isHostdev = el.name === 'hostdev' && el.attrs.mode === 'subsystem' && el.attrs.type === 'pci';
    const isInterface = el.name === 'interface' && el.attrs.type === 'hostdev';
    if (!isHostdev && !isInterface) continue;
    const address = child(el, 'source') && child(child(el, 'source') as Element, 'address');
    if (!address) {
      domain.problems.push({ file, line: el.line, message: `<${el.name}> has no <source><address …/></source>` });
      continue;
    }
    const canonical = libvirtAddress(address.attrs);
    if (canonical === null) {
      domain.problems.push({ file, line: address.line, message: 'the host address needs domain, bus, slot and function as numbers (e.g. bus=\'0x01\')' });
      continue;
    }
    domain.hostdevs.push({
      address: canonical,
      managed: el.attrs.managed === 'yes',
      line: el.line,
      via: isHostdev ? 'hostdev' : "interface type='hostdev'",
    });
  }
  return domain;
}
