/**
 * Checks `modules.yaml` entries beyond their shape, so a module that could only fail at run time
 * is refused at load with `file:line: field`: a duplicate id or name, a command placeholder
 * that is not among the params (or sits where no quoting is safe), a default outside its own
 * type, `min` above `max`, and a `raw` parameter anywhere but as the whole command of an
 * `adminOnly` module.
 */
import { AppError, badParameter } from '../../errors.js';
import { parseTemplate } from '../command-template.js';
import { checkParamValue } from '../modules/params.js';
import type { ModuleEntry } from './modules-schema.js';

export function resolveModules(entries: ModuleEntry[], locate: (pathParts: readonly PropertyKey[]) => string): ModuleEntry[] {
  const at = (i: number, ...rest: PropertyKey[]) => locate(['modules', i, ...rest]);
  const ids = new Map<number, number>();
  const names = new Map<string, number>();
  entries.forEach((m, i) => {
    const byId = ids.get(m.id);
    if (byId !== undefined) throw badParameter(`${at(i, 'id')}: id ${m.id} is already used at ${at(byId, 'id')}`);
    ids.set(m.id, i);
    const byName = names.get(m.name);
    if (byName !== undefined) throw badParameter(`${at(i, 'name')}: ${m.name} is already defined at ${at(byName, 'name')}`);
    names.set(m.name, i);

    const paramNames = new Set<string>();
    m.params.forEach((p, n) => {
      if (paramNames.has(p.name)) throw badParameter(`${at(i, 'params', n, 'name')}: parameter ${p.name} is listed twice`);
      paramNames.add(p.name);
      if (p.type === 'int' && p.min !== undefined && p.max !== undefined && p.min > p.max) throw badParameter(`${at(i, 'params', n, 'min')}: min ${p.min} is above max ${p.max}`);
      if (p.default !== undefined) {
        try {
          checkParamValue(p, p.default);
        } catch (err) {
          if (err instanceof AppError) throw badParameter(`${at(i, 'params', n, 'default')}: the default does not fit: ${err.message}`);
          throw err;
        }
      }
      if (p.type === 'string' && p.raw && !(m.adminOnly && m.command.trim() === `{${p.name}}`)) {
        throw badParameter(`${at(i, 'params', n, 'raw')}: a raw parameter is only allowed as the whole command ({${p.name}}) of an adminOnly module`);
      }
    });

    if (m.params.some((p) => p.type === 'string' && p.raw)) return; // the command is the script itself
    let variables: string[];
    try {
      variables = parseTemplate(m.command).variables;
    } catch (err) {
      if (err instanceof AppError) throw badParameter(`${at(i, 'command')}: ${err.message}`);
      throw err;
    }
    const unknown = variables.find((v) => !paramNames.has(v));
    if (unknown) throw badParameter(`${at(i, 'command')}: unknown placeholder {${unknown}}; the params are: ${[...paramNames].join(', ') || '(none)'}`);
  });
  return entries;
}
