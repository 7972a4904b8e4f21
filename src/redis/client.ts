/**
 * What every ioredis client celeriac opens needs, shared by the Redis transport and the Redis result
 * backend:
 *
 * - {@link guardRedisClient}: ioredis attaches the failed command to its errors (`err.command.args`),
 *   and for the connection handshake that is `AUTH <password>` or `HELLO 3 AUTH <user> <password>`:
 *   anyone who logs the error object (or its `cause`) would print the password. The guard redacts
 *   those arguments before any other `error` listener sees the error.
 * - {@link connectRedis}: ioredis rejects a failed first connect with a bare "Connection is closed.";
 *   this rejects with what actually went wrong (WRONGPASS, a certificate the CA does not sign, all
 *   sentinels unreachable, ...), with a hint for TLS verification failures.
 */
import type { Redis } from 'ioredis';

/** Commands whose arguments may carry credentials, and which arguments (all, or those after a marker). */
const SECRET_COMMANDS: Record<string, (args: unknown[]) => unknown[]> = {
  auth: (args) => args.map(() => '**'),
  hello: (args) => {
    const i = args.findIndex((a) => String(a).toUpperCase() === 'AUTH');
    return i < 0 ? args : [...args.slice(0, i + 1), ...args.slice(i + 1, i + 3).map(() => '**'), ...args.slice(i + 3)];
  },
  migrate: (args) => {
    const i = args.findIndex((a) => ['AUTH', 'AUTH2'].includes(String(a).toUpperCase()));
    return i < 0 ? args : [...args.slice(0, i + 1), ...args.slice(i + 1).map(() => '**')];
  },
  config: (args) => (String(args[0]).toLowerCase() === 'set' && /pass/i.test(String(args[1])) ? [args[0], args[1], '**'] : args),
  acl: (args) => (String(args[0]).toLowerCase() === 'setuser' ? args.map((a, i) => (i < 2 ? a : '**')) : args),
};

/** Redacts credentials from an ioredis error (and its causes) in place; returns it. */
export function redactRedisError<E>(err: E): E {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const command = (e as { command?: { name?: unknown; args?: unknown } }).command;
    if (command && typeof command === 'object' && Array.isArray(command.args)) {
      const redact = SECRET_COMMANDS[String(command.name).toLowerCase()];
      if (redact) command.args = redact(command.args);
    }
    e = (e as { cause?: unknown }).cause;
  }
  return err;
}

const GUARDED = Symbol('celeriac.redisGuarded');

/** Makes the client redact credentials from every error it emits, before other listeners run. */
export function guardRedisClient<T extends Redis>(client: T): T {
  const c = client as T & { [GUARDED]?: true };
  if (c[GUARDED]) return client;
  c[GUARDED] = true;
  client.prependListener('error', (err: unknown) => void redactRedisError(err));
  return client;
}

/** Node's codes for a server certificate that fails verification. */
const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED',
]);

/** The error to show for a failed connection: a TLS verification failure says what to check. */
export function describeConnectError(err: Error): Error {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TLS_VERIFY_CODES.has(code)) {
    const out = new Error(
      `TLS certificate verification failed (${code}: ${err.message}); check ssl_ca_certs, or ssl_cert_reqs=none to skip verification`,
      { cause: err },
    );
    (out as Error & { code: string }).code = code;
    return out;
  }
  return err;
}

const GENERIC = /^(Connection is closed\.?|Stream isn't writeable.*|Command aborted due to connection close)$/;

/** ioredis's sentinel messages, made to say what is wrong (it retries forever, so no "retrying in 10ms"). */
function sentinelMessage(err: Error, lastSentinelError: Error | undefined, master: string | undefined): Error {
  if (!/^All sentinels are unreachable/.test(err.message)) return err;
  let text = err.message.replace(/ Retrying from scratch after \d+ms\./, '').replace(/ and retry is disabled\./, '.');
  if (lastSentinelError) {
    // "failed to connect to sentinel h:p because <why>" names the sentinel; "invalid reply: null" = unknown master
    text = /invalid reply: null/.test(lastSentinelError.message)
      ? `no sentinel knows the master ${JSON.stringify(master)} (check master_name): ${lastSentinelError.message}`
      : `All sentinels are unreachable: ${lastSentinelError.message}`;
  }
  return new Error(text, { cause: err });
}

/**
 * Connects a lazy client (if not connected yet) and PINGs it. Fails on the first connection error the
 * client reports (it keeps reconnecting in the background, as before): with the error itself, credentials
 * redacted, rather than ioredis's generic "Connection is closed." — and rather than waiting forever
 * while ioredis retries the sentinels.
 */
export async function connectRedis(client: Redis): Promise<void> {
  guardRedisClient(client);
  let onError!: (err: Error) => void;
  let lastSentinelError: Error | undefined;
  const onSentinelError = (err: Error) => (lastSentinelError = err);
  const failed = new Promise<never>((_, reject) => {
    onError = (err: Error) => reject(err);
  });
  client.on('error', onError);
  client.on('sentinelError', onSentinelError);
  const attempt = (async () => {
    if (client.status === 'wait') await client.connect();
    await client.ping();
  })();
  try {
    await Promise.race([attempt, failed]);
  } catch (err) {
    attempt.catch(() => undefined);
    const e = sentinelMessage(err as Error, lastSentinelError, (client.options as { name?: string }).name);
    throw redactRedisError(describeConnectError(e));
  } finally {
    client.off('error', onError);
    client.off('sentinelError', onSentinelError);
  }
}
