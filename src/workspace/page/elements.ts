/**
 * Block Kit's interactive elements as real form controls: buttons (styles, confirm dialogs),
 * static and external selects (single and multi; external ones search as you type), date and
 * time pickers, checkboxes, radio buttons, text and number inputs. Each element in a modal
 * registers a Field that reads its value in Slack's `state.values` shape; an element that
 * dispatches (message actions, accessories, inputs with `dispatch_action`) sends a block
 * action with what was picked, as Slack does.
 */
import { plainOf, textObject, type Names } from './mrkdwn.js';

export type Obj = Record<string, unknown>;

/** What a block action carries besides the element (Slack's field names). */
export interface Picked {
  selected_option?: Obj;
  selected_options?: Obj[];
  selected_date?: string;
  selected_time?: string;
  value?: string;
}

/** One input's value in a modal: `{ type, value | selected_option | … }`, as Slack sends it. */
export interface Field {
  blockId: string;
  actionId: string;
  read(): Obj;
  /** The control that takes focus and keeps a typed value across a redraw. */
  control?: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
}

export interface ElementContext {
  names: Names;
  act(element: Obj, blockId: string, picked: Picked): void;
  suggest(element: Obj, blockId: string, query: string): Promise<Obj[]>;
  confirm(dialog: Obj): Promise<boolean>;
  /** Set inside a modal: the fields read at Submit and sent with every action. */
  fields?: Field[];
}

export interface Placement {
  blockId: string;
  /** The accessible name when no label element names the control (message actions, accessories). */
  name?: string;
  /** The id a `<label for>` points at, in input blocks. */
  id?: string;
  /** Whether a change sends a block action (always outside input blocks). */
  dispatch: boolean;
}

let counter = 0;
export const uid = (prefix: string): string => `${prefix}-${++counter}`;

/** A Block Kit field that should be a string, or '' when it is not. */
export const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Options of a select: plain `options` or `option_groups`, flattened with their group's label. */
function optionsOf(element: Obj): Array<{ option: Obj; group?: string }> {
  if (Array.isArray(element.option_groups))
    return (element.option_groups as Obj[]).flatMap((g) => (Array.isArray(g.options) ? (g.options as Obj[]) : []).map((option) => ({ option, group: plainOf(g.label) })));
  return (Array.isArray(element.options) ? (element.options as Obj[]) : []).map((option) => ({ option }));
}

/** An option as Slack sends it back: its text and value (and description when it has one). */
const picked = (o: Obj): Obj => ({ text: o.text, value: o.value, ...(o.description ? { description: o.description } : {}) });

function button(element: Obj, at: Placement, ctx: ElementContext): HTMLElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `btn ${str(element.style) ? `btn-${str(element.style)}` : ''}`.trim();
  b.append(...textObject(element.text, ctx.names));
  if (typeof element.accessibility_label === 'string') b.setAttribute('aria-label', element.accessibility_label);
  b.addEventListener('click', async () => {
    if (element.confirm && !(await ctx.confirm(element.confirm as Obj))) return;
    ctx.act(element, at.blockId, {});
  });
  return b;
}

function named<T extends HTMLElement>(control: T, at: Placement, element: Obj): T {
  if (at.id) control.id = at.id;
  else control.setAttribute('aria-label', at.name ?? (plainOf(element.placeholder) || str(element.action_id)));
  return control;
}

function staticSelect(element: Obj, at: Placement, ctx: ElementContext, multi: boolean): HTMLElement {
  const s = named(document.createElement('select'), at, element);
  s.multiple = multi;
  const all = optionsOf(element);
  if (!multi) {
    const none = document.createElement('option');
    none.value = '';
    none.textContent = plainOf(element.placeholder) || 'Choose…';
    s.append(none);
  }
  const initial = new Set(
    (multi ? (Array.isArray(element.initial_options) ? (element.initial_options as Obj[]) : []) : element.initial_option ? [element.initial_option as Obj] : []).map((o) => str(o.value)),
  );
  const groups = new Map<string, HTMLOptGroupElement>();
  all.forEach(({ option, group }, i) => {
    const o = document.createElement('option');
    o.value = String(i);
    o.textContent = plainOf(option.text);
    o.selected = initial.has(str(option.value));
    if (group === undefined) s.append(o);
    else {
      let g = groups.get(group);
      if (!g) {
        g = document.createElement('optgroup');
        g.label = group;
        groups.set(group, g);
        s.append(g);
      }
      g.append(o);
    }
  });
  const chosen = (): Obj[] => [...s.selectedOptions].filter((o) => o.value !== '').map((o) => picked(all[Number(o.value)]!.option));
  const read = (): Obj => (multi ? { type: str(element.type), selected_options: chosen() } : { type: str(element.type), selected_option: chosen()[0] ?? null });
  ctx.fields?.push({ blockId: at.blockId, actionId: str(element.action_id), read, control: s });
  s.addEventListener('change', () => {
    if (!at.dispatch) return;
    const c = chosen();
    ctx.act(element, at.blockId, multi ? { selected_options: c } : c[0] ? { selected_option: c[0] } : {});
  });
  return s;
}

/**
 * An external select: a combobox that asks the bot for options as the person types (Slack's
 * block_suggestion), with the chosen ones as removable chips when it takes several.
 */
function externalSelect(element: Obj, at: Placement, ctx: ElementContext, multi: boolean): HTMLElement {
  const wrap = document.createElement('div');
  wrap.className = 'combo';
  const chips = document.createElement('div');
  chips.className = 'chips';
  const input = named(document.createElement('input'), at, element);
  input.type = 'text';
  input.autocomplete = 'off';
  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-expanded', 'false');
  input.placeholder = plainOf(element.placeholder) || 'Type to search';
  const list = document.createElement('ul');
  list.setAttribute('role', 'listbox');
  list.id = uid('listbox');
  list.hidden = true;
  input.setAttribute('aria-controls', list.id);
  const status = document.createElement('p');
  status.className = 'combo-status';
  status.setAttribute('aria-live', 'polite');
  wrap.append(chips, input, list, status);

  let chosen: Obj[] = multi
    ? (Array.isArray(element.initial_options) ? (element.initial_options as Obj[]) : []).map(picked)
    : element.initial_option
      ? [picked(element.initial_option as Obj)]
      : [];
  let offered: Obj[] = [];
  let active = -1;
  const minLength = typeof element.min_query_length === 'number' ? element.min_query_length : 3;

  const drawChips = () => {
    chips.replaceChildren(
      ...(multi ? chosen : []).map((o) => {
        const chip = document.createElement('span');
        chip.className = 'chip';
        chip.append(plainOf(o.text));
        const x = document.createElement('button');
        x.type = 'button';
        x.textContent = '×';
        x.setAttribute('aria-label', `Remove ${plainOf(o.text)}`);
        x.addEventListener('click', () => {
          chosen = chosen.filter((c) => c !== o);
          drawChips();
          changed();
        });
        chip.append(x);
        return chip;
      }),
    );
    if (!multi) input.value = chosen[0] ? plainOf(chosen[0].text) : input.value;
  };
  const changed = () => {
    if (at.dispatch) ctx.act(element, at.blockId, multi ? { selected_options: chosen } : chosen[0] ? { selected_option: chosen[0] } : {});
  };
  const close = () => {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  };
  const choose = (o: Obj) => {
    const p = picked(o);
    if (multi) {
      if (!chosen.some((c) => c.value === p.value)) chosen = [...chosen, p];
      input.value = '';
    } else chosen = [p];
    close();
    drawChips();
    changed();
  };
  const highlight = (i: number) => {
    active = i;
    [...list.children].forEach((li, j) => li.setAttribute('aria-selected', String(j === i)));
    const li = list.children[i];
    if (li) input.setAttribute('aria-activedescendant', li.id);
  };
  const draw = () => {
    list.replaceChildren(
      ...offered.map((o) => {
        const li = document.createElement('li');
        li.setAttribute('role', 'option');
        li.id = uid('opt');
        li.textContent = plainOf(o.text);
        li.setAttribute('aria-selected', 'false');
        li.addEventListener('mousedown', (e) => e.preventDefault());
        li.addEventListener('click', () => choose(o));
        return li;
      }),
    );
    list.hidden = offered.length === 0;
    input.setAttribute('aria-expanded', String(!list.hidden));
    active = -1;
  };
  let asked = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  input.addEventListener('input', () => {
    if (!multi) chosen = [];
    clearTimeout(timer);
    const query = input.value;
    if (query.length < minLength) {
      status.textContent = minLength > 0 ? `Type at least ${minLength} characters` : '';
      offered = [];
      return draw();
    }
    timer = setTimeout(async () => {
      const mine = ++asked;
      status.textContent = 'Searching…';
      const found = await ctx.suggest(element, at.blockId, query).catch((): Obj[] => []);
      if (mine !== asked) return;
      offered = found;
      status.textContent = found.length === 0 ? 'No matches' : `${found.length} match${found.length === 1 ? '' : 'es'}`;
      draw();
    }, 150);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' && offered.length) (e.preventDefault(), highlight(Math.min(active + 1, offered.length - 1)));
    else if (e.key === 'ArrowUp' && offered.length) (e.preventDefault(), highlight(Math.max(active - 1, 0)));
    else if (e.key === 'Enter' && active >= 0 && offered[active]) (e.preventDefault(), choose(offered[active]!));
    else if (e.key === 'Escape') close();
  });
  input.addEventListener('blur', () => setTimeout(close, 100));
  drawChips();
  const read = (): Obj => (multi ? { type: str(element.type), selected_options: chosen } : { type: str(element.type), selected_option: chosen[0] ?? null });
  ctx.fields?.push({ blockId: at.blockId, actionId: str(element.action_id), read });
  return wrap;
}

function picker(element: Obj, at: Placement, ctx: ElementContext, kind: 'date' | 'time'): HTMLElement {
  const i = named(document.createElement('input'), at, element);
  i.type = kind;
  i.value = str(kind === 'date' ? element.initial_date : element.initial_time);
  const key = kind === 'date' ? 'selected_date' : 'selected_time';
  ctx.fields?.push({ blockId: at.blockId, actionId: str(element.action_id), read: () => ({ type: str(element.type), [key]: i.value || null }), control: i });
  i.addEventListener('change', () => at.dispatch && i.value && ctx.act(element, at.blockId, { [key]: i.value }));
  return i;
}

/** Checkboxes and radio buttons: a fieldset, each option a real input with its label. */
function choices(element: Obj, at: Placement, ctx: ElementContext, kind: 'checkbox' | 'radio', legend?: string): HTMLElement {
  const set = document.createElement('fieldset');
  set.className = 'choices';
  const lg = document.createElement('legend');
  lg.textContent = legend ?? at.name ?? str(element.action_id);
  if (!legend) lg.className = 'sr-only';
  set.append(lg);
  const group = uid('group');
  const initial = new Set(
    (kind === 'checkbox' ? (Array.isArray(element.initial_options) ? (element.initial_options as Obj[]) : []) : element.initial_option ? [element.initial_option as Obj] : []).map((o) => str(o.value)),
  );
  const boxes = optionsOf(element).map(({ option }) => {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = kind;
    box.name = group;
    box.checked = initial.has(str(option.value));
    label.append(box, ' ', ...textObject(option.text, ctx.names));
    if (option.description) {
      const d = document.createElement('span');
      d.className = 'description';
      d.append(...textObject(option.description, ctx.names));
      label.append(d);
    }
    set.append(label);
    return { box, option };
  });
  const chosen = () => boxes.filter((b) => b.box.checked).map((b) => picked(b.option));
  const read = (): Obj => (kind === 'checkbox' ? { type: str(element.type), selected_options: chosen() } : { type: str(element.type), selected_option: chosen()[0] ?? null });
  ctx.fields?.push({ blockId: at.blockId, actionId: str(element.action_id), read });
  set.addEventListener('change', () => {
    if (!at.dispatch) return;
    const c = chosen();
    ctx.act(element, at.blockId, kind === 'checkbox' ? { selected_options: c } : c[0] ? { selected_option: c[0] } : {});
  });
  return set;
}

/** Text, number, email and URL inputs; a text input may dispatch as typed (the /run form's live count). */
function textInput(element: Obj, at: Placement, ctx: ElementContext): HTMLElement {
  const type = str(element.type);
  const multiline = type === 'plain_text_input' && element.multiline === true;
  const i = named(document.createElement(multiline ? 'textarea' : 'input'), at, element) as HTMLInputElement | HTMLTextAreaElement;
  if (i instanceof HTMLInputElement) i.type = type === 'number_input' ? 'number' : type === 'email_text_input' ? 'email' : type === 'url_text_input' ? 'url' : 'text';
  if (i instanceof HTMLInputElement && type === 'number_input') {
    i.step = element.is_decimal_allowed === true ? 'any' : '1';
    if (element.min_value !== undefined) i.min = str(element.min_value);
    if (element.max_value !== undefined) i.max = str(element.max_value);
  }
  i.value = str(element.initial_value);
  i.placeholder = plainOf(element.placeholder);
  if (typeof element.max_length === 'number') i.maxLength = element.max_length;
  ctx.fields?.push({ blockId: at.blockId, actionId: str(element.action_id), read: () => ({ type, value: i.value === '' ? null : i.value }), control: i });
  if (at.dispatch) {
    const on = ((element.dispatch_action_config as Obj | undefined)?.trigger_actions_on as string[] | undefined) ?? ['on_enter_pressed'];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const send = () => ctx.act(element, at.blockId, { value: i.value });
    if (on.includes('on_character_entered'))
      i.addEventListener('input', () => {
        clearTimeout(timer);
        timer = setTimeout(send, 300);
      });
    if (on.includes('on_enter_pressed')) i.addEventListener('keydown', (e) => e instanceof KeyboardEvent && e.key === 'Enter' && !multiline && (e.preventDefault(), clearTimeout(timer), send()));
  }
  return i;
}

/** Any element: the control for it, or a visible note for a kind the workspace does not draw. */
export function element(element: Obj, at: Placement, ctx: ElementContext, legend?: string): HTMLElement {
  switch (element.type) {
    case 'button':
      return button(element, at, ctx);
    case 'static_select':
    case 'multi_static_select':
      return staticSelect(element, at, ctx, element.type === 'multi_static_select');
    case 'external_select':
    case 'multi_external_select':
      return externalSelect(element, at, ctx, element.type === 'multi_external_select');
    case 'datepicker':
      return picker(element, at, ctx, 'date');
    case 'timepicker':
      return picker(element, at, ctx, 'time');
    case 'checkboxes':
      return choices(element, at, ctx, 'checkbox', legend);
    case 'radio_buttons':
      return choices(element, at, ctx, 'radio', legend);
    case 'plain_text_input':
    case 'number_input':
    case 'email_text_input':
    case 'url_text_input':
      return textInput(element, at, ctx);
    case 'image':
      return imageAlt(element);
    default: {
      const note = document.createElement('span');
      note.className = 'unsupported';
      note.textContent = `[${str(element.type) || 'element'}: not drawn by the local workspace]`;
      return note;
    }
  }
}

/** Images are never fetched (the page loads nothing from outside): their alt text stands in. */
export function imageAlt(element: Obj): HTMLElement {
  const s = document.createElement('span');
  s.className = 'image-alt';
  s.setAttribute('role', 'img');
  s.setAttribute('aria-label', str(element.alt_text) || 'image');
  s.textContent = `🖼 ${str(element.alt_text) || 'image'}`;
  return s;
}
