/** Teardown and console capture shared by the tests that start their own servers. */
import type { TestContext } from 'node:test';

/**
 * Teardown steps run last-registered-first after the test (node:test runs after-hooks in registration
 * order); a failing step does not stop the others. `first` runs last (e.g. destroying a private broker).
 */
export function teardownStack(t: Pick<TestContext, 'after'>, ...first: (() => Promise<unknown>)[]): (() => Promise<unknown>)[] {
  const steps = [...first];
  t.after(async () => {
    for (const f of steps.reverse()) await f().catch(() => undefined);
  });
  return steps;
}

/**
 * `console.error` lines (where the transports report without an `onError` sink), captured until
 * `cleanup` runs.
 */
export function captureConsoleError(cleanup: (() => Promise<unknown>)[]): string[] {
  const lines: string[] = [];
  const orig = console.error;
  console.error = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  cleanup.push(async () => void (console.error = orig));
  return lines;
}
