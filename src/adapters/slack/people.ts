/** Asking Slack about people: email of a user, user of an email (users:read, users:read.email). */
import type { WebClient } from '@slack/web-api';
import type { SlackPeople } from '../../services/directory/directory.js';

export function slackPeople(client: WebClient): SlackPeople {
  return {
    async emailOf(slackUserId) {
      const res = await client.users.info({ user: slackUserId });
      return res.user?.profile?.email ?? undefined;
    },
    async idByEmail(email) {
      try {
        const res = await client.users.lookupByEmail({ email });
        return res.user?.id ?? undefined;
      } catch (err) {
        // Not every directory person has a Slack account: that is an answer, not a failure.
        if ((err as { data?: { error?: string } }).data?.error === 'users_not_found') return undefined;
        throw err;
      }
    },
  };
}
