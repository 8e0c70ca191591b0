/**
 * A module's parameter values, from Slack text (`lines=200`) or typed JSON, checked against
 * their declared type before anything is rendered. A value outside its type is AppError 1100
 * naming the parameter; a required one left out is 1102; a name the module does not declare is
 * 1100. Only checked values reach the command template, which then quotes them for the shell.
 */
import { AppError, badParameter, ErrorCode } from '../../errors.js';
import type { TemplateValue } from '../command-template.js';
import type { ModuleEntry, ModuleParam } from '../catalog/modules-schema.js';

/** The value as its type holds it; throws 1100 naming the parameter when it does not fit. */
export function checkParamValue(p: ModuleParam, value: unknown): TemplateValue {
  const refuse = (why: string) => badParameter(`parameter ${p.name}: ${why}`, { param: p.name });
  switch (p.type) {
    case 'int': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?[0-9]{1,15}$/.test(value.trim()) ? Number(value.trim()) : NaN;
      if (!Number.isSafeInteger(n)) throw refuse('must be a whole number');
      if (p.min !== undefined && n < p.min) throw refuse(`must be at least ${p.min}`);
      if (p.max !== undefined && n > p.max) throw refuse(`must be at most ${p.max}`);
      return n;
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      const s = typeof value === 'string' ? value.trim().toLowerCase() : '';
      if (['true', 'yes', '1', 'on'].includes(s)) return true;
      if (['false', 'no', '0', 'off'].includes(s)) return false;
      throw refuse('must be true or false');
    }
    case 'enum': {
      if (typeof value !== 'string' || !p.choices.includes(value)) throw refuse(`must be one of ${p.choices.join(', ')}`);
      return value;
    }
    case 'string': {
      if (typeof value !== 'string') throw refuse('must be text');
      if (value.includes('\0')) throw refuse('contains a NUL byte');
      if (value.length > p.maxLength) throw refuse(`is longer than ${p.maxLength} characters`);
      if (p.pattern !== undefined && !new RegExp(p.pattern).test(value)) throw refuse(`does not match ${p.pattern}`);
      return value;
    }
  }
}

/**
 * Every declared parameter's value: given, else its default, else (optional) empty text.
 * Optional parameters left out render as '' (bool: false).
 */
export function checkParams(m: Pick<ModuleEntry, 'name' | 'params'>, input: Readonly<Record<string, unknown>>): Record<string, TemplateValue> {
  for (const key of Object.keys(input)) {
    if (!m.params.some((p) => p.name === key)) {
      throw badParameter(`module ${m.name} has no parameter ${key}; its parameters are: ${m.params.map((p) => p.name).join(', ') || '(none)'}`, { param: key });
    }
  }
  const out: Record<string, TemplateValue> = {};
  for (const p of m.params) {
    const given = Object.hasOwn(input, p.name) ? input[p.name] : undefined;
    if (given !== undefined && given !== '') out[p.name] = checkParamValue(p, given);
    else if (p.default !== undefined) out[p.name] = p.default;
    else if (p.optional) out[p.name] = p.type === 'bool' ? false : '';
    else throw new AppError(ErrorCode.MissingField, `parameter ${p.name} is required (${describeParam(p)})`, { param: p.name });
  }
  return out;
}

/** `int 1..5000`, `one of a, b`, for messages and help. */
export function describeParam(p: ModuleParam): string {
  switch (p.type) {
    case 'int':
      return `whole number${p.min !== undefined || p.max !== undefined ? ` ${p.min ?? ''}..${p.max ?? ''}` : ''}`;
    case 'enum':
      return `one of ${p.choices.join(', ')}`;
    case 'bool':
      return 'true or false';
    case 'string':
      return p.pattern ? `text matching ${p.pattern}` : `text up to ${p.maxLength} characters`;
  }
}
