/**
 * The top modal of the person's stack, as a dialog with the view's blocks, its Close and
 * Submit buttons, and the bot's field errors under their fields. When the bot updates the
 * view (views.update), what the person typed stays where block and action ids still match,
 * and so does the focus, as Slack keeps input state across updates.
 */
import { api, type OpenView } from './api.js';
import { renderBlocks } from './blocks.js';
import type { ElementContext, Field, Obj } from './elements.js';
import { plainOf } from './mrkdwn.js';

export interface ModalHost {
  as(): string;
  context(viewId: string, fields: Field[]): ElementContext;
}

interface Drawn {
  key: string;
  fields: Field[];
  root: HTMLElement;
}

const keyOf = (f: Field): string => `${f.blockId}\u0000${f.actionId}`;

export function stateValues(fields: Field[]): Record<string, Record<string, Obj>> {
  const values: Record<string, Record<string, Obj>> = {};
  for (const f of fields) (values[f.blockId] ??= {})[f.actionId] = f.read();
  return values;
}

export class ModalView {
  private drawn?: Drawn;

  constructor(
    private readonly mount: HTMLElement,
    private readonly host: ModalHost,
  ) {}

  /** Draws the top of the stack (or nothing); a view unchanged since the last draw is left as is. */
  show(stack: OpenView[]): void {
    const top = stack.at(-1);
    if (!top) {
      this.drawn = undefined;
      this.mount.replaceChildren();
      return;
    }
    const key = `${top.id}|${top.hash}|${JSON.stringify(top.errors ?? {})}`;
    if (this.drawn?.key === key) return;
    const kept = this.drawn && this.drawn.root.dataset.viewId === top.id ? this.remember(this.drawn.fields) : undefined;
    const fields: Field[] = [];
    const root = this.draw(top, fields);
    this.mount.replaceChildren(root);
    this.drawn = { key, fields, root };
    if (kept) this.restore(fields, kept);
    else (root.querySelector<HTMLElement>('input, select, textarea, button[type=submit]') ?? root).focus();
  }

  private draw(v: OpenView, fields: Field[]): HTMLElement {
    const view = v.view;
    const back = document.createElement('div');
    back.className = 'backdrop';
    back.dataset.viewId = v.id;
    const dialog = document.createElement('div');
    dialog.className = 'dialog modal';
    dialog.setAttribute('role', 'dialog');
    dialog.setAttribute('aria-modal', 'true');
    const title = document.createElement('h2');
    title.id = `title-${v.id}`;
    title.textContent = plainOf(view.title) || 'opsgate';
    dialog.setAttribute('aria-labelledby', title.id);
    const form = document.createElement('form');
    form.noValidate = true;
    const ctx = this.host.context(v.id, fields);
    form.append(...renderBlocks(view.blocks, ctx, v.errors ?? {}));
    const status = document.createElement('p');
    status.className = 'modal-status';
    status.setAttribute('role', 'alert');
    const foot = document.createElement('div');
    foot.className = 'dialog-foot';
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'btn';
    close.textContent = plainOf(view.close) || 'Close';
    close.addEventListener('click', () => void api.close(this.host.as(), v.id));
    foot.append(close);
    if (view.submit) {
      const submit = document.createElement('button');
      submit.type = 'submit';
      submit.className = 'btn btn-primary';
      submit.textContent = plainOf(view.submit) || 'Submit';
      foot.append(submit);
    }
    form.append(status, foot);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      status.textContent = '';
      const answer = await api.submit(this.host.as(), v.id, stateValues(fields));
      if (!answer.ok) status.textContent = answer.error ?? 'the submission was not delivered';
      else if (!answer.errors) this.drawn = undefined;
    });
    dialog.addEventListener('keydown', (e) => e.key === 'Escape' && void api.close(this.host.as(), v.id));
    dialog.append(title, form);
    back.append(dialog);
    return back;
  }

  private remember(fields: Field[]): { values: Map<string, string | string[]>; focus?: { key: string; start: number | null; end: number | null } } {
    const values = new Map<string, string | string[]>();
    let focus: { key: string; start: number | null; end: number | null } | undefined;
    for (const f of fields) {
      const c = f.control;
      if (!c) continue;
      values.set(keyOf(f), c instanceof HTMLSelectElement && c.multiple ? [...c.selectedOptions].map((o) => o.value) : c.value);
      if (document.activeElement === c) focus = { key: keyOf(f), start: c instanceof HTMLSelectElement ? null : c.selectionStart, end: c instanceof HTMLSelectElement ? null : c.selectionEnd };
    }
    return { values, focus };
  }

  private restore(fields: Field[], kept: ReturnType<ModalView['remember']>): void {
    for (const f of fields) {
      const c = f.control;
      const v = kept.values.get(keyOf(f));
      if (!c || v === undefined) continue;
      if (c instanceof HTMLSelectElement && c.multiple && Array.isArray(v)) for (const o of c.options) o.selected = v.includes(o.value);
      else if (typeof v === 'string') c.value = v;
      if (kept.focus?.key === keyOf(f)) {
        c.focus();
        try {
          if (!(c instanceof HTMLSelectElement) && kept.focus.start !== null) c.setSelectionRange(kept.focus.start, kept.focus.end);
        } catch {
          /* date, time and number inputs have no caret to put back */
        }
      }
    }
  }
}
