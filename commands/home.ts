/** The App Home tab: published when a person opens it, and on Refresh. */
import type { App } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { homeView, type HomeSection } from '../blocks/home.js';
import type { Logger } from '../src/logger.js';
import type { Person } from '../src/models/person.js';
import type { DirectoryService } from '../src/services/directory/directory.js';
import { Actions } from './ids.js';
import { inputOf } from './input-guard.js';
import { safely } from './respond.js';

/** Each capability contributes its part of the Home tab. */
export type HomeSectionProvider = (person: Person | null) => Promise<HomeSection>;

export interface HomeDeps {
  directory: DirectoryService;
  sections: HomeSectionProvider[];
  logger: Logger;
}

async function publish(client: WebClient, userId: string, deps: HomeDeps): Promise<void> {
  const person = await deps.directory.findBySlackUser(userId);
  const sections = await Promise.all(deps.sections.map((s) => s(person)));
  await client.views.publish({ user_id: userId, view: homeView(person, sections) });
}

export function registerHome(app: App, deps: HomeDeps): void {
  app.event('app_home_opened', async ({ event, client, context }) => {
    if (event.tab !== 'home') return;
    await publish(client, inputOf(context).input.userId, deps).catch((err: unknown) => deps.logger.error({ err }, 'publishing the home tab failed'));
  });
  app.action(Actions.homeRefresh, async ({ ack, client, context }) => {
    const { input, reply } = inputOf(context);
    await ack();
    // A click in the App Home has no conversation to answer in: a failure goes to the clicker's DM.
    const failed = await safely(deps.logger, 'home refresh', async () => (await publish(client, input.userId, deps), null));
    if (failed) await reply.tell(failed);
  });
}
