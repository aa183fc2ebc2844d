import type { Logger } from 'pino';
import type { Address } from '../model.js';
import { assessClaims, type ClaimAssessment, type ClaimInputs } from './assess.js';
import { EARLY_CLAIMS_FILE, writeClaimsFile } from './files.js';

/**
 * The daemon's side of early claims, run after every reconcile: keeps the claims file equal to what the
 * config asks for now (so a removed device loses its claim), and says in the journal how each device was
 * claimed and when the initramfs needs refreshing. It never rebuilds the initramfs itself.
 */
export class EarlyClaimKeeper {
  private said = new Map<Address, string>();
  private saidProblems = '';
  private saidInitramfs = '';
  private saidHold = '';

  constructor(private readonly root: string, private readonly log: Logger) {}

  async update(input: ClaimInputs & { hasGoodConfig: boolean }): Promise<ClaimAssessment | null> {
    let a: ClaimAssessment;
    try {
      a = await assessClaims(this.root, input);
    } catch (err) {
      this.log.error(`early claims: ${(err as Error).message}`);
      return null;
    }
    // Without a good config the last claims stay in force, like the bindings; likewise while followed guests are unknown.
    const hold = a.hold ?? '';
    if (hold && hold !== this.saidHold) this.log.warn(`early claims: ${EARLY_CLAIMS_FILE} is kept as it is: ${hold}`);
    this.saidHold = hold;
    if (input.hasGoodConfig && !hold) {
      try {
        if (await writeClaimsFile(this.root, a.text)) {
          const n = a.claims.filter((c) => c.kind === 'claim').length;
          this.log.info(`early claims: ${n} claim${n === 1 ? '' : 's'} written to ${EARLY_CLAIMS_FILE}`);
        }
      } catch (err) {
        this.log.error(`early claims: cannot write ${EARLY_CLAIMS_FILE}: ${(err as Error).message}; devices are still bound, but late at the next boot`);
      }
    }
    const problems = a.problems.join('\n');
    if (problems !== this.saidProblems) for (const p of a.problems) this.log.warn(`early claims: ${p}`);
    this.saidProblems = problems;
    for (const [address, s] of a.statuses) {
      const line = s.claim === 'none' ? '' : `${address}: claimed ${s.claim}: ${s.reason}`;
      if (line && this.said.get(address) !== line) {
        if (s.claim === 'late') this.log.warn(line);
        else this.log.info(line);
      }
      this.said.set(address, line);
    }
    const advice = a.initramfs.check.status === 'pass' ? '' : a.initramfs.check.message;
    if (advice && advice !== this.saidInitramfs) this.log.warn(advice);
    this.saidInitramfs = advice;
    return a;
  }
}
