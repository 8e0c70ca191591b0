/**
 * Posting a late answer to a slash command's or button's response_url. Only Slack's hooks host
 * (or the configured SLACK_API_URL's origin, for a sandbox) is ever contacted: a response_url
 * is data from a request and must not become a way to make the bot call arbitrary hosts. This
 * is the only code that posts to a response_url (Bolt's own `respond()` checks nothing and is
 * not used).
 */
export interface ResponseUrlPoster {
  /** True when `url` may be posted to (https on Slack's hooks host, or SLACK_API_URL's origin). */
  allows(url: string | undefined): url is string;
  post(url: string, message: { text: string; blocks?: unknown[]; response_type?: 'ephemeral' | 'in_channel'; replace_original?: boolean }): Promise<void>;
}

export const SLACK_HOOKS_ORIGIN = 'https://hooks.slack.com';

export function responseUrlPoster(apiUrl: string | undefined): ResponseUrlPoster {
  const allowed = [SLACK_HOOKS_ORIGIN];
  if (apiUrl) allowed.push(new URL(apiUrl).origin);
  const allows = (url: string | undefined): url is string => {
    if (typeof url !== 'string' || url.length > 2_000) return false;
    try {
      return allowed.includes(new URL(url).origin);
    } catch {
      return false;
    }
  };
  return {
    allows,
    async post(url, message) {
      if (!allows(url)) throw new Error('response_url is not on a Slack host');
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ response_type: 'ephemeral', ...message }),
        signal: AbortSignal.timeout(10_000),
        // A redirect could lead anywhere: the allow-list is about where the request lands.
        redirect: 'error',
      });
      if (!res.ok) throw new Error(`response_url answered HTTP ${res.status}`);
    },
  };
}
