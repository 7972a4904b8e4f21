/**
 * Byte-faithful edits of kombu JSON text. kombu's restore does `dumps(loads(text))` after setting two
 * flags; re-serializing in JavaScript would turn `1.0` into `1` and reorder nothing but reformat
 * everything. Instead these helpers locate values by scanning the text and splice in the change, so a
 * restored message is the original text plus `"redelivered": true` where kombu puts it (for a message
 * Python wrote, byte-identical to what kombu's restore writes).
 */
import { pythonJsonStr } from '../../../protocol/serialization/pywrite.ts';

interface Member {
  key: string;
  valueStart: number;
  valueEnd: number;
}

const LITERAL = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|NaN|-?Infinity/y;

class Scanner {
  constructor(readonly s: string) {}

  ws(i: number): number {
    const s = this.s;
    while (i < s.length && (s[i] === ' ' || s[i] === '\n' || s[i] === '\r' || s[i] === '\t')) i++;
    return i;
  }

  fail(i: number, what: string): never {
    throw new SyntaxError(`invalid JSON at offset ${i}: ${what}`);
  }

  string(i: number): number {
    const s = this.s;
    if (s[i] !== '"') this.fail(i, 'expected a string');
    i++;
    while (i < s.length) {
      const c = s[i];
      if (c === '\\') i += 2;
      else if (c === '"') return i + 1;
      else i++;
    }
    return this.fail(i, 'unterminated string');
  }

  /** End offset of the value starting at `i` (after whitespace). */
  value(i: number): number {
    const s = this.s;
    i = this.ws(i);
    const c = s[i];
    if (c === '"') return this.string(i);
    if (c === '{') return this.object(i).close + 1;
    if (c === '[') return this.array(i).close + 1;
    LITERAL.lastIndex = i;
    const m = LITERAL.exec(s);
    if (!m) this.fail(i, 'expected a value');
    return i + m[0].length;
  }

  object(i: number): { members: Member[]; close: number } {
    const s = this.s;
    if (s[i] !== '{') this.fail(i, 'expected an object');
    const members: Member[] = [];
    i = this.ws(i + 1);
    if (s[i] === '}') return { members, close: i };
    for (;;) {
      i = this.ws(i);
      const keyEnd = this.string(i);
      const key = JSON.parse(s.slice(i, keyEnd)) as string;
      i = this.ws(keyEnd);
      if (s[i] !== ':') this.fail(i, 'expected ":"');
      const valueStart = this.ws(i + 1);
      const valueEnd = this.value(valueStart);
      members.push({ key, valueStart, valueEnd });
      i = this.ws(valueEnd);
      if (s[i] === ',') i++;
      else if (s[i] === '}') return { members, close: i };
      else this.fail(i, 'expected "," or "}"');
    }
  }

  array(i: number): { elements: Array<[number, number]>; close: number } {
    const s = this.s;
    if (s[i] !== '[') this.fail(i, 'expected an array');
    const elements: Array<[number, number]> = [];
    i = this.ws(i + 1);
    if (s[i] === ']') return { elements, close: i };
    for (;;) {
      const start = this.ws(i);
      const end = this.value(start);
      elements.push([start, end]);
      i = this.ws(end);
      if (s[i] === ',') i++;
      else if (s[i] === ']') return { elements, close: i };
      else this.fail(i, 'expected "," or "]"');
    }
  }
}


/** The last member named `key` (Python dicts keep the last duplicate). */
function member(members: Member[], key: string): Member | undefined {
  for (let i = members.length - 1; i >= 0; i--) if (members[i]!.key === key) return members[i];
  return undefined;
}

/**
 * kombu `Channel._do_restore_message`: `headers.redelivered = true` and
 * `properties.delivery_info.redelivered = true` (appended at the end of the object, or the existing
 * value replaced). Objects that are missing or not objects are left alone.
 */
export function markRedelivered(text: string): string {
  const sc = new Scanner(text);
  const top = sc.object(sc.ws(0));
  const edits: Array<{ start: number; end: number; insert: string }> = [];
  const flag = (objStart: number) => {
    const obj = sc.object(objStart);
    const existing = member(obj.members, 'redelivered');
    if (existing) edits.push({ start: existing.valueStart, end: existing.valueEnd, insert: 'true' });
    else edits.push({ start: obj.close, end: obj.close, insert: `${obj.members.length ? ', ' : ''}"redelivered": true` });
  };
  const headers = member(top.members, 'headers');
  if (headers && text[headers.valueStart] === '{') flag(headers.valueStart);
  const props = member(top.members, 'properties');
  if (props && text[props.valueStart] === '{') {
    const di = member(sc.object(props.valueStart).members, 'delivery_info');
    if (di && text[di.valueStart] === '{') flag(di.valueStart);
  }
  edits.sort((a, b) => b.start - a.start);
  let out = text;
  for (const e of edits) out = out.slice(0, e.start) + e.insert + out.slice(e.end);
  return out;
}

/** Splits an unacked hash value `[<envelope>, "<exchange>", "<routing_key>"]`, keeping the envelope text as is. */
export function splitUnacked(text: string): { envelope: string; exchange: string; routingKey: string } {
  const sc = new Scanner(text);
  const arr = sc.array(sc.ws(0));
  if (arr.elements.length !== 3) throw new SyntaxError(`expected [envelope, exchange, routing_key], got ${arr.elements.length} elements`);
  const [m, ex, rk] = arr.elements as [[number, number], [number, number], [number, number]];
  const exchange: unknown = JSON.parse(text.slice(ex[0], ex[1]));
  const routingKey: unknown = JSON.parse(text.slice(rk[0], rk[1]));
  if (typeof exchange !== 'string' || typeof routingKey !== 'string') throw new SyntaxError('exchange and routing_key must be strings');
  return { envelope: text.slice(m[0], m[1]), exchange, routingKey };
}

/** kombu `QoS.append`'s hash value: `dumps([message._raw, EX, RK])`, the envelope bytes kept verbatim. */
export function joinUnacked(envelope: Buffer, exchange: string, routingKey: string): Buffer {
  return Buffer.concat([
    Buffer.from('['),
    envelope,
    Buffer.from(`, ${pythonJsonStr(exchange)}, ${pythonJsonStr(routingKey)}]`),
  ]);
}
