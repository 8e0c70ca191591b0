/**
 * Block Kit layout blocks as DOM: header, section (text, fields, accessory), context,
 * divider, actions, image, input (in modals: label, hint, the bot's field error under the
 * field) and rich_text as plain paragraphs. The same renderer draws messages, modals and the
 * App Home, as Slack uses one block language for all three.
 */
import { element, imageAlt, str, uid, type ElementContext, type Obj } from './elements.js';
import { mrkdwn, plainOf, textObject } from './mrkdwn.js';

const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v.filter((x) => x && typeof x === 'object') as Obj[]) : []);

function div(className: string, children: Array<Node | string> = []): HTMLDivElement {
  const d = document.createElement('div');
  d.className = className;
  d.append(...children);
  return d;
}

function section(b: Obj, ctx: ElementContext): HTMLElement {
  const d = div('b-section');
  const body = div('b-section-body');
  if (b.text) body.append(div('b-text', textObject(b.text, ctx.names)));
  const fields = list(b.fields);
  if (fields.length) body.append(div('b-fields', fields.map((f) => div('b-field', textObject(f, ctx.names)))));
  d.append(body);
  if (b.accessory && typeof b.accessory === 'object') {
    const name = plainOf(b.text).split('\n')[0]?.replace(/[*_~`]/g, '').slice(0, 80);
    d.append(div('b-accessory', [element(b.accessory as Obj, { blockId: str(b.block_id), dispatch: true, name }, ctx)]));
  }
  return d;
}

function context(b: Obj, ctx: ElementContext): HTMLElement {
  return div(
    'b-context',
    list(b.elements).map((e) => (e.type === 'image' ? imageAlt(e) : div('b-context-item', textObject(e, ctx.names)))),
  );
}

function actions(b: Obj, ctx: ElementContext): HTMLElement {
  const d = div('b-actions');
  d.setAttribute('role', 'group');
  for (const e of list(b.elements)) d.append(element(e, { blockId: str(b.block_id), dispatch: true }, ctx));
  return d;
}

/** An input block: a label bound to its control, the hint, and the bot's error for this block. */
function input(b: Obj, ctx: ElementContext, errors: Record<string, string>): HTMLElement {
  const blockId = str(b.block_id);
  const d = div('b-input');
  d.dataset.blockId = blockId;
  const e = (b.element && typeof b.element === 'object' ? b.element : {}) as Obj;
  const labelText = plainOf(b.label) + (b.optional === true ? ' (optional)' : '');
  const grouped = e.type === 'checkboxes' || e.type === 'radio_buttons';
  const id = uid('field');
  if (!grouped) {
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = labelText;
    d.append(label);
  }
  const control = element(e, { blockId, id, dispatch: b.dispatch_action === true }, ctx, grouped ? labelText : undefined);
  d.append(control);
  const described: string[] = [];
  if (b.hint) {
    const hint = div('b-hint', textObject(b.hint, ctx.names));
    hint.id = uid('hint');
    described.push(hint.id);
    d.append(hint);
  }
  const error = errors[blockId];
  if (error) {
    const p = document.createElement('p');
    p.className = 'field-error';
    p.id = uid('error');
    p.textContent = error;
    described.push(p.id);
    d.append(p);
    d.classList.add('has-error');
  }
  // The control itself (or the combobox inside its wrapper) carries the description and state.
  const target = (control.matches('input, select, textarea, fieldset') ? control : control.querySelector('input, select, textarea')) ?? control;
  if (described.length) target.setAttribute('aria-describedby', described.join(' '));
  if (error) target.setAttribute('aria-invalid', 'true');
  return d;
}

/** rich_text: each section's text runs, without the styling (opsgate posts none). */
function richText(b: Obj): HTMLElement {
  const texts = (x: Obj): string => (typeof x.text === 'string' ? x.text : list(x.elements).map(texts).join(''));
  return div('b-rich', list(b.elements).map((s) => div('b-rich-part', [texts(s)])));
}

export function renderBlocks(blocks: unknown, ctx: ElementContext, errors: Record<string, string> = {}): HTMLElement[] {
  return list(blocks).map((b) => {
    switch (b.type) {
      case 'header': {
        const h = document.createElement('h3');
        h.className = 'b-header';
        h.append(...textObject(b.text, ctx.names));
        return h;
      }
      case 'section':
        return section(b, ctx);
      case 'context':
        return context(b, ctx);
      case 'divider':
        return document.createElement('hr');
      case 'actions':
        return actions(b, ctx);
      case 'input':
        return input(b, ctx, errors);
      case 'image':
        return div('b-image', [imageAlt(b)]);
      case 'rich_text':
        return richText(b);
      default:
        return div('unsupported', [`[${str(b.type) || 'block'}: not drawn by the local workspace]`]);
    }
  });
}

/** A message's body: its blocks, or its text as mrkdwn when it has none (as Slack shows it). */
export function renderMessageBody(text: string, blocks: unknown, ctx: ElementContext): Node[] {
  return list(blocks).length ? renderBlocks(blocks, ctx) : [div('b-text', mrkdwn(text, ctx.names))];
}
