/**
 * Posting a late answer to a slash command's response_url. Only Slack's hooks host (or the
 * configured SLACK_API_URL's origin, for a sandbox) is ever contacted: a response_url is data
 * from a request and must not become a way to make the bot call arbitrary hosts.
 */
export interface ResponseUrlPoster {
  post(url: string, message: { text: string; blocks?: unknown[]; response_type?: 'ephemeral' | 'in_channel' }): Promise<void>;
}

export function responseUrlPoster(apiUrl: string | undefined): ResponseUrlPoster {
  const allowed = ['https://hooks.slack.com'];
  if (apiUrl) allowed.push(new URL(apiUrl).origin);
  return {
    async post(url, message) {
      let origin: string;
      try {
        origin = new URL(url).origin;
      } catch {
        throw new Error('response_url is not a URL');
      }
      if (!allowed.includes(origin)) throw new Error(`response_url host ${origin} is not Slack's`);
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ response_type: 'ephemeral', ...message }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new Error(`response_url answered HTTP ${res.status}`);
    },
  };
}
