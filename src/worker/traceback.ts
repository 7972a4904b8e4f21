/**
 * A Python-style traceback text for a JavaScript error, so `AsyncResult.traceback` in Python (and
 * Flower, logs) shows where a TypeScript task failed:
 *
 *   Traceback (most recent call last):
 *     File "/app/tasks.ts", line 12, in divide
 *       if (b === 0) throw new RangeError('division by zero');
 *   ValueError: division by zero
 *
 * Frames come from V8's `err.stack`, most recent call last as in Python; node-internal frames are
 * dropped. The last line is `exc_type: message` with the Python type the error is stored as
 * (`exceptionToInfo`), module-qualified when not a builtin, as Python's `traceback` module prints it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { exceptionToInfo, PythonError } from '../../protocol/exceptions.ts';

interface Frame {
  fn: string;
  file: string;
  line: number;
}

// "    at fn (file:line:col)", "    at file:line:col", "    at async fn (file:line:col)"
const FRAME_RE = /^\s*at (?:async )?(?:(.*?) \()?(.+?):(\d+):(\d+)\)?$/;

function parseFrames(stack: string): Frame[] {
  const frames: Frame[] = [];
  for (const line of stack.split('\n')) {
    const m = FRAME_RE.exec(line);
    if (!m) continue;
    let file = m[2]!;
    if (file.startsWith('node:') || file.includes('/node_modules/tsx/') || file === 'native') continue;
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(file);
      } catch {
        // keep the URL
      }
    }
    frames.push({ fn: m[1] && m[1] !== '' ? m[1] : '<module>', file, line: Number(m[3]) });
  }
  return frames;
}

const sourceCache = new Map<string, string[] | null>();

function sourceLine(file: string, line: number): string | null {
  let lines = sourceCache.get(file);
  if (lines === undefined) {
    try {
      lines = readFileSync(file, 'utf8').split('\n');
    } catch {
      lines = null;
    }
    if (sourceCache.size > 200) sourceCache.clear();
    sourceCache.set(file, lines);
  }
  // tsx maps stack lines to the TypeScript source, so the line numbers match the .ts file
  const text = lines?.[line - 1]?.trim();
  return text ? text : null;
}

/** `ValueError: msg`, `celery.exceptions.Retry: ...`, `celeriac.MyError: msg` (Python's last line). */
export function exceptionLine(err: unknown): string {
  const info = exceptionToInfo(err);
  const type = info.exc_module === 'builtins' || info.exc_module === '__main__' ? info.exc_type : `${info.exc_module}.${info.exc_type}`;
  let message: string;
  if (err instanceof PythonError) message = err.excMessage.length === 1 && typeof err.excMessage[0] === 'string' ? err.excMessage[0] : err.message;
  else if (err instanceof Error) message = err.message;
  else message = String(err);
  return message === '' ? type : `${type}: ${message}`;
}

/**
 * The traceback text stored with a FAILURE/RETRY. A {@link PythonError} that already carries a
 * Python traceback (e.g. re-raised from a Python task's result) keeps it.
 */
export function formatTraceback(err: unknown): string {
  if (err instanceof PythonError && err.traceback) return err.traceback;
  const frames = err instanceof Error && typeof err.stack === 'string' ? parseFrames(err.stack).reverse() : [];
  const out = ['Traceback (most recent call last):'];
  for (const f of frames) {
    out.push(`  File "${f.file}", line ${f.line}, in ${f.fn}`);
    const src = sourceLine(f.file, f.line);
    if (src) out.push(`    ${src}`);
  }
  out.push(exceptionLine(err));
  return out.join('\n') + '\n';
}
