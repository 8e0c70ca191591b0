/**
 * Redacts a stream of text piece by piece with the same result as redacting the whole text
 * (services/redact.ts), holding back only what could still turn into a match:
 *
 *   - declared secrets: the last `longest form - 1` characters (a secret split across two
 *     pieces is then whole in the held text), and never a cut inside a complete occurrence;
 *   - URL credentials (`scheme://user:password@`): a match never contains whitespace, quotes
 *     or `<>`, so text is released only up to the last such character. The match itself can be
 *     arbitrarily long, so a run without any of them is held up to `maxHoldChars`; past that
 *     the run is released with a conservative rule instead (everything after a `://` up to the
 *     next `/` is masked), which hides at least what the whole-text rule would hide.
 *
 * Memory is bounded by `maxHoldChars` plus twice the longest secret form, whatever the total.
 */
import { MASK, maskForms, redactUrlCredentials, secretForms } from '../../services/redact.js';

/** Characters a URL credential match never contains. */
const STOP = /[\s'"<>]/;
const DEFAULT_MAX_HOLD_CHARS = 64 * 1024;

export class StreamingRedactor {
  private pending = '';
  private readonly forms: string[];
  /** Characters held back for secrets: a partial secret at the end is shorter than the longest form. */
  private readonly window: number;
  /** True while releasing a stop-free run longer than the hold (conservative URL rule). */
  private inLongRun = false;
  /** Progress through `://` at the end of the long-run text released so far; 3 = masking. */
  private urlState = 0;

  constructor(
    secrets: Iterable<string> = [],
    private readonly maxHoldChars = DEFAULT_MAX_HOLD_CHARS,
  ) {
    this.forms = secretForms(secrets);
    this.window = Math.max(0, (this.forms[0]?.length ?? 0) - 1);
  }

  /** Characters held back right now (for tests and bounds). */
  get heldChars(): number {
    return this.pending.length;
  }

  /** Adds text; returns the redacted text that is now safe to release (often ''). */
  push(text: string): string {
    if (text === '') return '';
    this.pending += text;
    const p = this.pending;
    const limit = p.length - this.window;
    if (limit <= 0) return '';
    let cut = this.safeCut(p, limit);
    if (cut <= 0) {
      // No stop character: wait for one, unless the run is already too long to hold.
      if (!this.inLongRun && p.length <= this.maxHoldChars + this.window) return '';
      cut = this.outsideSecrets(p, limit);
      if (cut <= 0) return '';
      this.inLongRun = true;
    }
    this.pending = p.slice(cut);
    return this.release(p.slice(0, cut));
  }

  /** End of the stream: everything held, redacted. */
  end(): string {
    const rest = this.pending;
    this.pending = '';
    return this.release(rest);
  }

  /** The largest cut <= limit right after a stop character and outside every secret occurrence. */
  private safeCut(p: string, limit: number): number {
    let cut = limit;
    for (;;) {
      let i = cut - 1;
      while (i >= 0 && !STOP.test(p[i]!)) i--;
      if (i < 0) return 0;
      const moved = this.outsideSecrets(p, i + 1);
      if (moved === i + 1) return moved;
      cut = moved;
    }
  }

  /** Moves `cut` left until no complete secret occurrence straddles it. */
  private outsideSecrets(p: string, cut: number): number {
    let c = cut;
    let changed = true;
    while (changed && c > 0) {
      changed = false;
      for (const form of this.forms) {
        let at = p.indexOf(form, Math.max(0, c - form.length + 1));
        while (at >= 0 && at < c) {
          if (at + form.length > c) {
            c = at;
            changed = true;
            break;
          }
          at = p.indexOf(form, at + 1);
        }
      }
    }
    return c;
  }

  private release(raw: string): string {
    if (raw === '') return '';
    const text = maskForms(raw, this.forms);
    if (!this.inLongRun) return redactUrlCredentials(text);
    // The long run ends at the first stop character; what follows is ordinary text again.
    let end = 0;
    while (end < text.length && !STOP.test(text[end]!)) end++;
    const head = this.maskAfterScheme(text.slice(0, end));
    if (end === text.length) return head;
    this.inLongRun = false;
    this.urlState = 0;
    return head + redactUrlCredentials(text.slice(end));
  }

  /** Conservative URL rule for a run too long to hold: drops what follows `://` up to a `/`. */
  private maskAfterScheme(run: string): string {
    let out = '';
    let from = 0;
    for (let i = 0; i < run.length; i++) {
      const ch = run[i]!;
      if (this.urlState === 3) {
        if (ch === '/') {
          this.urlState = 0;
          from = i;
        }
        continue;
      }
      if (ch === ':') this.urlState = 1;
      else if (ch === '/' && (this.urlState === 1 || this.urlState === 2)) {
        this.urlState++;
        if (this.urlState === 3) {
          out += run.slice(from, i + 1) + MASK;
          from = i + 1;
        }
      } else this.urlState = 0;
    }
    return this.urlState === 3 ? out : out + run.slice(from);
  }
}
