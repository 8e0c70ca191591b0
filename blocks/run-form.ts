/**
 * The `/run` form: the module (with its description), the target (picked hosts, project, app
 * category, environment, label:value) with the live count of matching enabled hosts, then the
 * chosen module's parameters as typed inputs. Pure: the listener hands in what the services
 * said, and redraws the whole view (views.update) when the module or the target changes.
 */
import type { ModalView } from '@slack/types';
import type { ModuleEntry, ModuleParam } from '../src/services/catalog/modules-schema.js';
import { Actions, RunBlocks, Views } from '../commands/ids.js';
import { context, esc, mrkdwn, plain, section, type Block } from './kit.js';
import { cut, fitOptions, fitView, LIMITS } from './limits.js';

/** What is typed or picked so far (from the view's state), shown again when the view is redrawn. */
export interface RunFormState {
  module: string | null;
  hosts: string[];
  project: string;
  app: string;
  env: string;
  label: string;
  /** Parameter inputs as Slack gave them: text, the chosen option, or 'true'/'false'. */
  params: Record<string, string>;
}

export const EMPTY_RUN_FORM: RunFormState = { module: null, hosts: [], project: '', app: '', env: '', label: '', params: {} };

export interface RunFormSpec {
  modules: Pick<ModuleEntry, 'name' | 'description'>[];
  module: Pick<ModuleEntry, 'name' | 'description' | 'params' | 'envs'> | null;
  state: RunFormState;
  /** The live count: enabled hosts matching, or why the target cannot be read, or nothing typed yet. */
  count: { matching: number; target: string; max: number } | { error: string } | null;
  /** The form's private_metadata (where to answer). */
  metadata: string;
}

const option = (text: string, value: string) => ({ text: plain(cut(text, LIMITS.optionText)), value });

/** A text input that redraws the form as it is typed (the live count). */
function liveText(blockId: string, label: string, placeholder: string, value: string): Block {
  const element: Record<string, unknown> = {
    type: 'plain_text_input',
    action_id: Actions.runTarget,
    placeholder: plain(placeholder),
    max_length: 100,
    dispatch_action_config: { trigger_actions_on: ['on_enter_pressed', 'on_character_entered'] },
  };
  if (value) element.initial_value = value;
  return { type: 'input', block_id: blockId, optional: true, dispatch_action: true, label: plain(label), element } as unknown as Block;
}

function countBlock(count: RunFormSpec['count']): Block {
  const text =
    count === null
      ? ':mag: Pick hosts or fill in a project, app category, environment or label to see how many hosts match.'
      : 'error' in count
        ? `:warning: ${esc(count.error)}`
        : count.matching > count.max
          ? `:warning: more than ${count.max} enabled hosts match \`${esc(count.target)}\`; narrow it`
          : `:mag: *${count.matching}* enabled host${count.matching === 1 ? '' : 's'} match${count.matching === 1 ? 'es' : ''} \`${esc(count.target)}\``;
  return { ...section(text), block_id: RunBlocks.count } as Block;
}

/** One parameter as its type's input: number (int, with min/max), select (enum), text (string, its pattern as the hint), checkbox (bool). */
function paramBlock(p: ModuleParam, given: string | undefined): Block {
  const blockId = `${RunBlocks.paramPrefix}${p.name}`;
  const label = plain(p.name);
  const optional = p.optional || p.default !== undefined;
  const described = p.description ? p.description : undefined;
  let element: Record<string, unknown>;
  let hint: string | undefined = described;
  switch (p.type) {
    case 'int': {
      element = { type: 'number_input', action_id: 'value', is_decimal_allowed: false };
      if (p.min !== undefined) element.min_value = String(p.min);
      if (p.max !== undefined) element.max_value = String(p.max);
      const v = given ?? (p.default !== undefined ? String(p.default) : '');
      if (v) element.initial_value = v;
      hint ??= p.min !== undefined || p.max !== undefined ? `A whole number from ${p.min ?? '…'} to ${p.max ?? '…'}` : 'A whole number';
      break;
    }
    case 'enum': {
      const options = fitOptions(p.choices.map((c) => option(c, c)));
      element = { type: 'static_select', action_id: 'value', options };
      const v = given ?? p.default;
      const initial = options.find((o) => o.value === v);
      if (initial) element.initial_option = initial;
      break;
    }
    case 'string': {
      // Slack's text input holds at most 3,000 characters; longer values go inline (/run <module> …).
      element = { type: 'plain_text_input', action_id: 'value', max_length: Math.min(p.maxLength, 3000), multiline: p.raw || p.maxLength > 200 };
      const v = given ?? p.default ?? '';
      if (v) element.initial_value = v;
      if (p.pattern) hint = `${described ? `${described} — ` : ''}must match ${p.pattern}`;
      break;
    }
    case 'bool': {
      const yes = option(`${p.name}: yes`, 'true');
      element = { type: 'checkboxes', action_id: 'value', options: [yes] };
      if ((given ?? String(p.default ?? false)) === 'true') element.initial_options = [yes];
      return { type: 'input', block_id: blockId, optional: true, label, element, ...(hint ? { hint: plain(cut(hint, LIMITS.plainText)) } : {}) } as unknown as Block;
    }
  }
  return { type: 'input', block_id: blockId, optional, label, element, ...(hint ? { hint: plain(cut(hint, LIMITS.plainText)) } : {}) } as unknown as Block;
}

export function runFormModal(spec: RunFormSpec): ModalView {
  const { state, module } = spec;
  const moduleOptions = fitOptions(spec.modules.map((m) => option(m.description ? `${m.name} — ${m.description}` : m.name, m.name)));
  const moduleElement: Record<string, unknown> = { type: 'static_select', action_id: Actions.runModule, placeholder: plain('Choose a module'), options: moduleOptions };
  const chosen = moduleOptions.find((o) => o.value === module?.name);
  if (chosen) moduleElement.initial_option = chosen;
  const hostsElement: Record<string, unknown> = { type: 'multi_external_select', action_id: Actions.runHosts, placeholder: plain('Type a host name'), min_query_length: 0, max_selected_items: 100 };
  if (state.hosts.length) hostsElement.initial_options = state.hosts.slice(0, 100).map((h) => option(h, h));
  const envs = module?.envs ?? [];
  const envOptions = fitOptions(envs.map((e) => option(e, e)));
  const blocks: Block[] = [
    { type: 'input', block_id: RunBlocks.module, dispatch_action: true, label: plain('Module'), element: moduleElement } as unknown as Block,
  ];
  if (module?.description) blocks.push(context(esc(module.description)));
  blocks.push({ type: 'header', text: plain('Target') } as Block);
  blocks.push({ type: 'input', block_id: RunBlocks.hosts, optional: true, dispatch_action: true, label: plain('Hosts'), element: hostsElement } as unknown as Block);
  blocks.push(liveText(RunBlocks.project, 'Project', 'storefront', state.project));
  blocks.push(liveText(RunBlocks.app, 'App category', 'nginx', state.app));
  if (envOptions.length > 0) {
    const envElement: Record<string, unknown> = { type: 'static_select', action_id: Actions.runTarget, placeholder: plain('Any environment the module may touch'), options: envOptions };
    const e = envOptions.find((o) => o.value === state.env);
    if (e) envElement.initial_option = e;
    blocks.push({ type: 'input', block_id: RunBlocks.env, optional: true, dispatch_action: true, label: plain('Environment'), element: envElement } as unknown as Block);
  } else blocks.push(liveText(RunBlocks.env, 'Environment', 'prod', state.env));
  blocks.push(liveText(RunBlocks.label, 'Label', 'role:web', state.label));
  blocks.push(countBlock(spec.count));
  if (module && module.params.length > 0) {
    blocks.push({ type: 'header', text: plain('Parameters') } as Block);
    for (const p of module.params) blocks.push(paramBlock(p, state.params[p.name]));
  } else if (!module) blocks.push({ type: 'context', elements: [mrkdwn('Choose a module to see its parameters.')] } as Block);
  return fitView({
    type: 'modal',
    callback_id: Views.runForm,
    title: plain('Run a module'),
    submit: plain('Run'),
    close: plain('Cancel'),
    private_metadata: spec.metadata,
    blocks: blocks as never,
  });
}
