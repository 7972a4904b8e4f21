/**
 * kombu's virtual exchanges (`kombu/transport/virtual/exchange.py`): how a binding is stored
 * (`prepare_bind`) and which queues a routing key reaches (`lookup`). Redis keeps bindings in the set
 * `_kombu.binding.<exchange>`, not the exchange type, so each process must know (or infer) the type.
 */
import type { ExchangeType } from '../../broker.ts';

export interface Binding {
  routingKey: string;
  /** The topic regex kombu stored (empty for direct and fanout). */
  pattern: string;
  queue: string;
}

const WILDCARDS: Record<string, string> = { '*': '.*?[^\\.]', '#': '.*?' };
const ALNUM = /^[\p{L}\p{N}]$/u;

/** kombu `escape_regex(p, white)`: every non-alphanumeric character not in `white` is backslash-escaped. */
function escapeRegex(p: string, white: string): string {
  let out = '';
  for (const c of p) out += ALNUM.test(c) || white.includes(c) ? c : c === '\0' ? '\\000' : `\\${c}`;
  return out;
}

/** kombu `TopicExchange.key_to_pattern`: `a.*.#` -> `^a\..*?[^\.]\..*?$`. */
export function keyToPattern(routingKey: string): string {
  return `^${escapeRegex(routingKey, '.#*').split('.').map((w) => WILDCARDS[w] ?? w).join('\\.')}$`;
}

const compiled = new Map<string, RegExp | null>();

/** `re.match(pattern, routingKey)` for the patterns kombu writes (no `u` flag: `\-` escapes are legal). */
export function topicMatch(pattern: string, routingKey: string): boolean {
  let re = compiled.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern.startsWith('^') ? pattern : `^(?:${pattern})`);
    } catch {
      re = null; // a pattern JS cannot compile matches nothing (kombu would raise on publish)
    }
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re !== null && re.test(routingKey);
}

/** The binding kombu's `queue_bind` writes for a queue bound with `routingKey` to an exchange of `type`. */
export function prepareBind(type: ExchangeType, routingKey: string, queue: string): Binding {
  return { routingKey, pattern: type === 'topic' ? keyToPattern(routingKey) : '', queue };
}

/** Redis has no exchange metadata: a table with any topic regex belongs to a topic exchange. */
export function inferExchangeType(table: readonly Binding[]): 'direct' | 'topic' {
  return table.some((b) => b.pattern !== '') ? 'topic' : 'direct';
}

/** kombu `ExchangeType.lookup`: the distinct queues `routingKey` reaches, in table order. */
export function lookupQueues(type: ExchangeType, table: readonly Binding[], routingKey: string): string[] {
  const out = new Set<string>();
  for (const b of table) {
    if (type === 'fanout' || (type === 'topic' ? topicMatch(b.pattern, routingKey) : b.routingKey === routingKey)) out.add(b.queue);
  }
  return [...out];
}
