/**
 * The memory inspect commands of `celery/worker/control.py`, answered as a Python worker with psutil
 * answers them (`celery/utils/debug.py`): `memsample` records the process's RSS and returns it as
 * `humanbytes` text (`'52.344MB'`), `memdump` prints the samples kept (`- rss (sample):` lines, then
 * the RSS after a collection), and `objgraph`, which needs Python's objgraph library, fails as it does
 * without it: `{'error': "ImportError('Requires the objgraph library')"}`.
 */
import type { Handler } from './state.ts';

const UNITS: readonly [number, string][] = [[2 ** 40, 'TB'], [2 ** 30, 'GB'], [2 ** 20, 'MB'], [2 ** 10, 'KB'], [0, 'b']];

/**
 * `celery.utils.debug.hfloat`: an integral value as an int, else Python's `'{0:.5}'.format(f)` (5
 * significant digits, trailing zeros dropped but one kept after the point, an exponent from 1e4 up).
 */
export function hfloat(f: number): string {
  if (Number.isInteger(f)) return String(f);
  const [mantissa, e] = f.toExponential(4).split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 4) {
    const m = mantissa.includes('.') ? mantissa.replace(/0+$/, '').replace(/\.$/, '') : mantissa;
    return `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const fixed = f.toFixed(4 - exp).replace(/0+$/, '');
  return fixed.endsWith('.') ? `${fixed}0` : fixed;
}

/** `celery.utils.debug.humanbytes`. */
export function humanbytes(bytes: number): string {
  for (const [div, unit] of UNITS) if (bytes >= div) return `${hfloat(div ? bytes / div : bytes)}${unit}`;
  return `${bytes}b`;
}

/**
 * `celery.utils.debug.sample`: n items of x, every len(x)//n-th from the start (with fewer items than
 * n the stride is 0, so Celery repeats the first one n times).
 */
export function sample<T>(x: readonly T[], n: number): T[] {
  const step = Math.floor(x.length / n);
  const out: T[] = [];
  for (let i = 0, k = 0; i < n && k < x.length; i++, k += step) out.push(x[k]!);
  return out;
}

/** The RSS samples `memsample` took (`celery.utils.debug._mem_sample`), per process. */
const samples: string[] = [];

const rss = () => humanbytes(process.memoryUsage.rss());

class ImportError extends Error {
  override name = 'ImportError';
}

export const MEMORY: Record<string, Handler> = {
  memsample: () => {
    const current = rss();
    samples.push(current);
    return current;
  },
  memdump: (_s, a) => {
    const n = typeof a.samples === 'number' ? a.samples : 10;
    const prev = sample(samples, n);
    (globalThis as { gc?: () => void }).gc?.();
    const after = rss();
    if (prev.length === 0) return '';
    return ['- rss (sample):', ...prev.map((m) => `-    > ${m},`), `- rss (end): ${after}.`, ''].join('\n');
  },
  objgraph: () => {
    throw new ImportError('Requires the objgraph library');
  },
};
