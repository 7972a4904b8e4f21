/**
 * fast-check generators for the values and messages celeriac carries. Each serializer gets only the
 * values Python's serializer can carry too (msgpack has no datetimes, yaml has no Decimal/UUID/time).
 */
import fc from 'fast-check';
import { PyDate, PyDateTime, PyTime, Decimal, UUID, isoformatUTC, type PyDict, type PyValue } from '../../protocol/values.ts';
import type { CreateTaskOptions } from '../../protocol/task.ts';
import { signature } from '../../protocol/canvas.ts';

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export const pyDateTime = fc
  .record({
    ms: fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2200, 0, 1) }),
    micro: fc.integer({ min: 0, max: 999_999 }),
    offset: fc.option(fc.integer({ min: -12 * 60, max: 14 * 60 }).map((m) => m - (m % 15)), { nil: undefined }),
    naive: fc.boolean(),
  })
  .map(({ ms, micro, offset, naive }) => {
    const base = isoformatUTC(new Date(Math.floor(ms / 1000) * 1000), micro).replace('+00:00', '');
    if (naive) return new PyDateTime(base);
    const off = offset ?? 0;
    const sign = off < 0 ? '-' : '+';
    return new PyDateTime(`${base}${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`);
  });

export const pyDate = fc
  .record({ y: fc.integer({ min: 1, max: 9999 }), m: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 28 }) })
  .map(({ y, m, d }) => new PyDate(`${pad(y, 4)}-${pad(m)}-${pad(d)}`));

export const pyTime = fc
  .record({ h: fc.integer({ min: 0, max: 23 }), m: fc.integer({ min: 0, max: 59 }), s: fc.integer({ min: 0, max: 59 }), us: fc.integer({ min: 0, max: 999_999 }) })
  .map(({ h, m, s, us }) => new PyTime(`${pad(h)}:${pad(m)}:${pad(s)}${us ? `.${pad(us, 6)}` : ''}`));

export const decimal = fc
  .tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 20 }))
  .map(([digits, scale]) => {
    const neg = digits < 0n;
    const s = (neg ? -digits : digits).toString().padStart(scale + 1, '0');
    return new Decimal(`${neg ? '-' : ''}${scale ? `${s.slice(0, -scale)}.${s.slice(-scale)}` : s}`);
  });

export const uuid = fc.uuid().map((u) => new UUID(u));
export const bytes = fc.uint8Array({ maxLength: 40 });
/** Python ints: safe JS numbers, or bigints outside the safe range. */
export const pyInt = (bits: number) =>
  fc.oneof(
    fc.integer(),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** BigInt(bits - 1)), max: 2n ** BigInt(bits - 1) - 1n }).filter((b) => b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)),
  );
/** Floats that stay floats in Python (an integral JS number is indistinguishable from an int). */
export const pyFloat = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x));
export const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', 'n', 'yes', 'null', '~', '1e3', "it's", '"q"', '\\', '\u0000'));
const key = fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__');

type Serializer = 'json' | 'msgpack' | 'yaml';

/** Leaves each serializer can carry. */
function leaves(serializer: Serializer): fc.Arbitrary<PyValue> {
  const common: fc.Arbitrary<PyValue>[] = [fc.constant(null), fc.boolean(), text, pyFloat, bytes];
  if (serializer === 'json') return fc.oneof(...common, pyInt(200), pyDateTime, pyDate, pyTime, decimal, uuid);
  if (serializer === 'msgpack') return fc.oneof(...common, pyInt(64).filter((v) => typeof v !== 'bigint' || v < 2n ** 63n));
  return fc.oneof(...common, pyInt(200), pyDateTime.filter((d) => !d.naive), pyDate);
}

export function pyValue(serializer: Serializer): fc.Arbitrary<PyValue> {
  const { value } = fc.letrec<{ value: PyValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaves(serializer),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(key, tie('value'), { maxKeys: 4, noNullPrototype: true }) as fc.Arbitrary<PyValue>,
    ),
  }));
  return value;
}

export function taskOptions(serializer: Serializer): fc.Arbitrary<CreateTaskOptions> {
  const v = pyValue(serializer);
  const id = fc.uuid();
  return fc.record(
    {
      task: fc.stringMatching(/^[a-z][a-z0-9_.]{0,30}$/),
      id,
      args: fc.array(v, { maxLength: 4 }),
      kwargs: fc.dictionary(key, v, { maxKeys: 4, noNullPrototype: true }) as fc.Arbitrary<PyDict>,
      countdown: fc.integer({ min: 0, max: 10_000 }),
      expires: fc.integer({ min: 1, max: 100_000 }),
      priority: fc.integer({ min: 0, max: 255 }),
      timeLimit: fc.integer({ min: 1, max: 3600 }),
      softTimeLimit: fc.integer({ min: 1, max: 3600 }),
      group: id,
      groupIndex: fc.nat(1000),
      retries: fc.nat(100),
      rootId: id,
      parentId: id,
      shadow: fc.string({ minLength: 1, maxLength: 20 }),
      ignoreResult: fc.boolean(),
      headers: fc.dictionary(fc.stringMatching(/^x-[a-z]{1,8}$/), fc.oneof(fc.constant(null), fc.integer(), text, fc.boolean()), { maxKeys: 3, noNullPrototype: true }) as fc.Arbitrary<PyDict>,
      callbacks: fc.array(fc.constant(signature('cb.task', [1], { a: 2 })), { maxLength: 2 }),
      replyTo: id,
    },
    { requiredKeys: ['task', 'id', 'args', 'kwargs'] },
  );
}
