/** Reading the bot's `GET /metrics` back in tests: Prometheus' text format as samples. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Each sample line `name{labels} value`. */
export function samples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
      if (!m) throw new Error(`not a Prometheus sample line: ${l}`);
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
}

/** The value of one series on a bot's /metrics (no METRICS_TOKEN set), or undefined. */
export async function metricValue(port: number, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return samples(await res.text()).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
