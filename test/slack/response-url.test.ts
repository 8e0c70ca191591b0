/** The response_url allow-list: Slack's hooks host over https, plus SLACK_API_URL's origin. */
import { describe, expect, it } from 'vitest';
import { responseUrlPoster } from '../../src/adapters/slack/response-url.js';

describe('response_url allow-list', () => {
  const poster = responseUrlPoster('http://127.0.0.1:3999/api/');

  it.each([
    ['https://hooks.slack.com/commands/T0/1/abc', true],
    ['https://HOOKS.slack.com/actions/T0/1/abc', true],
    ['http://127.0.0.1:3999/response/x', true],
    ['http://hooks.slack.com/commands/T0/1/abc', false],
    ['https://hooks.slack.com.evil.example/x', false],
    ['https://hooks.slack.com@evil.example/x', false],
    ['https://evil.example/?https://hooks.slack.com', false],
    ['http://127.0.0.1:4000/not-slack/hook', false],
    ['http://localhost:3999/response/x', false],
    ['file:///etc/passwd', false],
    ['not a url', false],
    ['', false],
  ])('%s -> %s', (url, ok) => {
    expect(poster.allows(url)).toBe(ok);
  });

  it('refuses non-strings and over-long URLs without contacting anything', async () => {
    expect(poster.allows(undefined)).toBe(false);
    expect(poster.allows({ toString: () => 'https://hooks.slack.com/x' } as unknown as string)).toBe(false);
    expect(poster.allows(`https://hooks.slack.com/${'a'.repeat(3000)}`)).toBe(false);
    await expect(poster.post('http://127.0.0.1:4000/not-slack/hook', { text: 'x' })).rejects.toThrow(/not on a Slack host/);
  });

  it('without SLACK_API_URL only Slack itself', () => {
    expect(responseUrlPoster(undefined).allows('http://127.0.0.1:3999/response/x')).toBe(false);
  });
});
