/**
 * Which requests some listener of ours answers. Bolt acknowledges nothing by itself: a command,
 * click, form or search that no listener matches waits out Bolt's 3 s and is answered 404 with
 * an error line. A signed click on an action id nobody listens to (`access_hosts`, a
 * `job_hosts_page` without its page) or a submit of a view that has no submit listener
 * (`ticket_picker`, `job_hosts`) did exactly that (found by test/fuzz/slack-endpoint.fuzz.test.ts).
 * The input guard asks `handles` first and refuses the rest at once with 1100.
 *
 * The routes are recorded as the listeners register (app.command / action / view / options are
 * wrapped before any capability wires its listeners), so this is never a second list to keep.
 */
import type { App } from '@slack/bolt';

export type RouteKind = 'command' | 'action' | 'view' | 'options';

type Matcher = string | RegExp;
type Constraint = Matcher | Record<string, unknown>;

export interface Routes {
  /** Whether a listener matches this command name, action id, view callback id or options action id. */
  handles(kind: RouteKind, id: string, viewType?: string): boolean;
}

const ID_FIELD: Record<RouteKind, string> = { command: 'command', action: 'action_id', view: 'callback_id', options: 'action_id' };

function matches(m: unknown, value: string): boolean {
  if (m === undefined) return true;
  if (typeof m === 'string') return m === value;
  return m instanceof RegExp ? new RegExp(m.source, m.flags.replace('g', '')).test(value) : false;
}

/** Wraps the app's four registration methods so each constraint is kept; returns the lookup. */
export function recordRoutes(app: App): Routes {
  const recorded: Record<RouteKind, Constraint[]> = { command: [], action: [], view: [], options: [] };
  const methods = app as unknown as Record<RouteKind, (...args: unknown[]) => unknown>;
  for (const kind of Object.keys(recorded) as RouteKind[]) {
    const register = methods[kind].bind(app);
    methods[kind] = (constraint: unknown, ...rest: unknown[]) => {
      recorded[kind].push(constraint as Constraint);
      return register(constraint, ...rest);
    };
  }
  return {
    handles(kind, id, viewType = 'view_submission') {
      return recorded[kind].some((c) => {
        if (typeof c === 'string' || c instanceof RegExp) return matches(c, id) && (kind !== 'view' || viewType === 'view_submission');
        // An object constraint (Bolt's { action_id, block_id, type, callback_id }): its id must match
        // and, for views, its type (Bolt's default is view_submission).
        if (kind === 'view' && (c.type ?? 'view_submission') !== viewType) return false;
        return matches(c[ID_FIELD[kind]], id);
      });
    },
  };
}
