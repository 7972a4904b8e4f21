/** Reading Prometheus' text exposition format in the metrics tests: samples, HELP/TYPE lines, scrapes. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a `/metrics` body (comments skipped). */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const v = m[3]!;
    out.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return out;
}

/** `# TYPE name type` lines: name → type. */
export function parseTypes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

/** The value of the one sample with this name whose labels include `labels`; undefined when none. */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/** `name{k="v",...}` sorted by label name: a comparable key of a sample. */
export function sampleKey(s: Pick<Sample, 'name' | 'labels'>): string {
  const ls = Object.keys(s.labels).sort().map((k) => `${k}=${JSON.stringify(s.labels[k])}`);
  return `${s.name}{${ls.join(',')}}`;
}

export async function scrape(url: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** Scrapes until `ok(samples)` holds; throws with the last body after `ms`. */
export async function scrapeUntil(url: string, ok: (samples: Sample[]) => boolean, ms = 30_000, what = 'the expected metrics'): Promise<Sample[]> {
  const end = Date.now() + ms;
  let last = '';
  for (;;) {
    try {
      const r = await scrape(url);
      last = r.text;
      const samples = parseSamples(r.text);
      if (r.status === 200 && ok(samples)) return samples;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > end) throw new Error(`waited ${ms} ms for ${what}; last scrape:\n${last}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
