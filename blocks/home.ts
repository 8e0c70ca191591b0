/** The App Home tab: one place per capability. */
import type { HomeView } from '@slack/types';
import { Actions } from '../commands/ids.js';
import type { Person } from '../src/models/person.js';
import { context, divider, esc, header, section, type Block } from './kit.js';
import { fitView } from './limits.js';

/** A capability's part of the Home tab, filled by that capability's service. */
export interface HomeSection {
  title: string;
  blocks: Block[];
}

/** A capability's place before that capability exists: says what will appear there. */
export function placeholderSection(title: string, text: string): HomeSection {
  return { title, blocks: [context(text)] };
}

export function homeView(person: Person | null, sections: HomeSection[]): HomeView {
  const intro: Block[] = person
    ? [header(`opsgate — ${person.name}`), context(`${esc(person.personId)} · ${esc(person.level)} · groups: ${person.groups.map(esc).join(', ') || '—'}`)]
    : [header('opsgate'), section('You are not in the opsgate directory yet [1201]. Ask an admin to add you; then this page shows your hosts, requests and approvals.')];
  const body = sections.flatMap((s) => [divider(), header(s.title), ...s.blocks]);
  return fitView({
    type: 'home',
    blocks: [
      ...intro,
      ...body,
      divider(),
      { type: 'actions', elements: [{ type: 'button', action_id: Actions.homeRefresh, text: { type: 'plain_text', text: 'Refresh' } }] },
      context('Type `/opsgate help` for every command.'),
    ],
  });
}
