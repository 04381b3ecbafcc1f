// Reading /metrics as Prometheus does: the text format parsed into samples by name and labels.

/** Parses the Prometheus text format into `name{a="1",b="2"}` (labels sorted) → value. */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    samples.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return samples;
}

export const sample = (metrics: Map<string, number>, name: string, labels: Record<string, string>) =>
  metrics.get(`${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`) ?? 0;

export async function scrape(url: string, bearer?: string) {
  const res = await fetch(url, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}
