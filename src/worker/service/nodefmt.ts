/**
 * Celery's `%` abbreviations in node names, pidfiles and logfiles (`celery/utils/nodenames.py`
 * `node_format` / `host_format`, `celery/utils/text.py` `simple_format`):
 *
 *   %h  the host part of the node name (`w1@box.example.com` → `box.example.com`)
 *   %n  the name part (`w1`; `celery` when the node name has no `@`)
 *   %d  the domain (`example.com`)
 *   %p  the whole node name (`w1@box.example.com`)
 *   %i  the pool process index, `0` in the main process (Celery's prefork child index)
 *   %I  the same with a `-` prefix, empty in the main process (so `%n%I.log` is `w1.log` for the
 *       main process and `w1-1.log` for child 1)
 *
 * Any other `%x` (x a letter, digit or `_`) is an error, as Celery's `ValueError('Unknown format %x
 * in ...')`. As in Celery, `%%` is no escape: `%%n` is `%` then the name.
 */
import { hostname as osHostname } from 'node:os';

export class NodeFormatError extends Error {
  override name = 'NodeFormatError';
}

/** `simple_format`: every `%x` through `keys`; an unknown key throws. */
export function simpleFormat(s: string, keys: Record<string, string>): string {
  return s.replace(/%(\w)/g, (_, key: string) => {
    const v = keys[key];
    if (v === undefined) throw new NodeFormatError(`Unknown format %${key} in string ${JSON.stringify(s)}`);
    return v;
  });
}

/** `host_format`: %h %n %d %i %I (plus `extra`) for `host` (default: this machine's name). */
export function hostFormat(s: string, host: string = osHostname(), name?: string, extra: Record<string, string> = {}, processIndex = 0): string {
  const dot = host.indexOf('.');
  const hname = dot < 0 ? host : host.slice(0, dot);
  const domain = dot < 0 ? '' : host.slice(dot + 1);
  return simpleFormat(s, {
    h: host, n: name || hname, d: domain,
    i: processIndex ? String(processIndex) : '0',
    I: processIndex ? `-${processIndex}` : '',
    ...extra,
  });
}

/** `node_format(s, nodename)`: the abbreviations for a worker's node name (`name@host`). */
export function nodeFormat(s: string, nodename: string, processIndex = 0): string {
  const at = nodename.indexOf('@');
  const short = at < 0 ? '' : nodename.slice(0, at);
  const host = at < 0 ? nodename : nodename.slice(at + 1);
  return hostFormat(s, host, short || 'celery', { p: nodename }, processIndex);
}
