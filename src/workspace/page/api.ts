/**
 * The local workspace's JSON API, as the page calls it. Every POST is `application/json`,
 * which is what keeps other sites' pages from acting through it (see ../http.ts).
 */
import type { Channel, Message, OpenView } from '../messages.js';
import type { Obj } from './elements.js';

// The workspace's own types: the page reads exactly what the server writes.
export type { Change, Channel, Message, OpenView } from '../messages.js';

export interface Person {
  id: string;
  name: string;
  slackId: string;
}

export interface Command {
  command: string;
  usageHint?: string;
  description?: string;
}

export interface State {
  as: string;
  people: Person[];
  commands: Command[];
  channels: Channel[];
  messages: Message[];
  views: { modals: OpenView[]; home: OpenView | null };
}

export interface Answer {
  ok: boolean;
  error?: string;
  code?: number;
  status?: number;
  errors?: Record<string, string> | null;
  options?: Obj[];
}

async function post(path: string, body: Obj): Promise<Answer> {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  try {
    return (await res.json()) as Answer;
  } catch {
    return { ok: false, error: `${path} answered ${res.status}` };
  }
}

export const api = {
  async state(as: string): Promise<State> {
    const res = await fetch(`/api/state?as=${encodeURIComponent(as)}`);
    if (!res.ok) throw new Error(((await res.json()) as Answer).error ?? `state: ${res.status}`);
    return (await res.json()) as State;
  },
  command: (as: string, channel: string, text: string) => post('/api/command', { as, channel, text }),
  action: (body: Obj) => post('/api/action', body),
  submit: (as: string, view_id: string, values: Obj) => post('/api/submit', { as, view_id, values }),
  close: (as: string, view_id: string) => post('/api/close', { as, view_id }),
  suggest: (as: string, view_id: string, action_id: string, block_id: string, value: string) => post('/api/suggest', { as, view_id, action_id, block_id, value }),
  home: (as: string) => post('/api/home', { as }),
  events: (as: string) => new EventSource(`/api/events?as=${encodeURIComponent(as)}`),
  fileUrl: (as: string, id: string) => `/api/files/${encodeURIComponent(id)}?as=${encodeURIComponent(as)}`,
};
