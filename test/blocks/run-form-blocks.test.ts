/**
 * The /run form's view and its state reader: every parameter type gets its input (number with
 * min/max, select, text with its pattern as the hint, checkbox), the view stays within Slack's
 * limits however many modules and choices there are, and the state is read back (a checkbox
 * unticked is false; a target value that would read as two filter words is refused on its field).
 */
import { describe, expect, it } from 'vitest';
import { EMPTY_RUN_FORM, runFormModal } from '../../blocks/run-form.js';
import { LIMITS } from '../../blocks/limits.js';
import { RunBlocks } from '../../commands/ids.js';
import { parseRunForm, runFormTarget } from '../../commands/runs-parse.js';
import { moduleParam, type ModuleParam } from '../../src/services/catalog/modules-schema.js';

const params: ModuleParam[] = [
  { name: 'lines', type: 'int', min: 1, max: 5000, default: 100 },
  { name: 'unit', type: 'enum', choices: ['nginx', 'php-fpm'] },
  { name: 'pattern', type: 'string', pattern: '^[a-z]{1,8}$', optional: true },
  { name: 'follow', type: 'bool', default: true },
].map((p) => moduleParam.parse(p));

const module = { name: 'syslog-tail', description: 'Last lines of the system log', params, envs: ['prod', 'stage'] };

describe('runFormModal', () => {
  it('shows each parameter as its type\'s input, with the module\'s description and environments', () => {
    const v = runFormModal({ modules: [module], module, state: EMPTY_RUN_FORM, count: { matching: 3, target: 'app:nginx', max: 5000 }, metadata: '{"c":"C1"}' });
    const block = (id: string) => (v.blocks as Array<Record<string, any>>).find((b) => b.block_id === id)!;
    expect(block('param:lines').element).toMatchObject({ type: 'number_input', is_decimal_allowed: false, min_value: '1', max_value: '5000', initial_value: '100' });
    expect(block('param:lines').optional).toBe(true);
    expect(block('param:unit').element.type).toBe('static_select');
    expect(block('param:unit').element.options.map((o: { value: string }) => o.value)).toEqual(['nginx', 'php-fpm']);
    expect(block('param:unit').optional).toBe(false);
    expect(block('param:pattern').element.type).toBe('plain_text_input');
    expect(block('param:pattern').hint.text).toBe('must match ^[a-z]{1,8}$');
    expect(block('param:follow').element).toMatchObject({ type: 'checkboxes', initial_options: [{ value: 'true' }] });
    expect(block(RunBlocks.env).element.options.map((o: { value: string }) => o.value)).toEqual(['prod', 'stage']);
    expect(block(RunBlocks.count).text.text).toBe(':mag: *3* enabled hosts match `app:nginx`');
    expect(JSON.stringify(v.blocks)).toContain('Last lines of the system log');
    for (const id of [RunBlocks.module, RunBlocks.hosts, RunBlocks.project, RunBlocks.app, RunBlocks.env, RunBlocks.label]) expect(block(id).dispatch_action).toBe(true);
  });

  it('a text parameter longer than Slack\'s 3,000-character input is capped there (the shell script)', () => {
    const shell = { name: 'shell', description: '', params: [moduleParam.parse({ name: 'script', type: 'string', raw: true, maxLength: 4000 })], envs: ['prod'] };
    const v = runFormModal({ modules: [shell], module: shell, state: EMPTY_RUN_FORM, count: null, metadata: '{}' });
    expect((v.blocks as Array<Record<string, any>>).find((b) => b.block_id === 'param:script')!.element).toMatchObject({ type: 'plain_text_input', max_length: 3000, multiline: true });
  });

  it('stays within Slack\'s limits with 300 modules of long descriptions', () => {
    const many = Array.from({ length: 300 }, (_, i) => ({ name: `m-${i}`, description: 'x'.repeat(500) }));
    const v = runFormModal({ modules: many, module: null, state: EMPTY_RUN_FORM, count: null, metadata: '{}' });
    const options = (v.blocks as Array<Record<string, any>>).find((b) => b.block_id === RunBlocks.module)!.element.options as Array<{ text: { text: string } }>;
    expect(options).toHaveLength(LIMITS.options);
    for (const o of options) expect(o.text.text.length).toBeLessThanOrEqual(LIMITS.optionText);
    expect(v.blocks.length).toBeLessThanOrEqual(LIMITS.viewBlocks);
  });
});

describe('parseRunForm', () => {
  const state = (extra: Record<string, unknown>) => ({
    [RunBlocks.module]: { run_module: { type: 'static_select', selected_option: { value: 'syslog-tail' } } },
    [RunBlocks.hosts]: { run_hosts: { type: 'multi_external_select', selected_options: [{ value: 'web-1' }] } },
    [RunBlocks.app]: { run_target: { type: 'plain_text_input', value: ' nginx ' } },
    [RunBlocks.label]: { run_target: { type: 'plain_text_input', value: 'role:web' } },
    'param:follow': { value: { type: 'checkboxes', selected_options: [] } },
    'param:lines': { value: { type: 'number_input', value: '200' } },
    ...extra,
  });

  it('reads the module, the target and the parameters; an unticked checkbox is false', () => {
    const f = parseRunForm(state({}));
    expect(f).toMatchObject({ module: 'syslog-tail', hosts: ['web-1'], app: 'nginx', label: 'role:web', params: { follow: 'false', lines: '200' } });
    expect(runFormTarget(f)).toBe('app:nginx role:web');
  });

  it('refuses what would read as other filter words, on its field', () => {
    expect(() => runFormTarget(parseRunForm(state({ [RunBlocks.app]: { run_target: { type: 'plain_text_input', value: 'nginx env:prod' } } })))).toThrow(expect.objectContaining({ code: 1100, details: { field: RunBlocks.app } }));
    expect(() => runFormTarget(parseRunForm(state({ [RunBlocks.label]: { run_target: { type: 'plain_text_input', value: 'env:prod' } } })))).toThrow(expect.objectContaining({ code: 1100, details: { field: RunBlocks.label } }));
    expect(() => parseRunForm(state({ [RunBlocks.hosts]: { run_hosts: { type: 'multi_external_select', selected_options: [{ value: '!refused' }] } } }))).toThrow(expect.objectContaining({ code: 1100 }));
    expect(() => parseRunForm('nope')).toThrow(expect.objectContaining({ code: 1100 }));
    expect(() => parseRunForm(undefined)).toThrow(expect.objectContaining({ code: 1100 }));
  });
});
