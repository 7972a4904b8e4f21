/**
 * Celery's `SecureSerializer` (`celery/security/serialization.py`), the `auth` serializer.
 *
 * What is signed is the inner serializer's output (json by default), not the value. The body on the
 * wire is ASCII base64 of five fields joined by the bytes `\x00\x01`:
 *
 *     b64(signer) \0\1 b64(signature) \0\1 content_type \0\1 content_encoding \0\1 body
 *
 * `signer` is the signing certificate's id (issuer values and serial, see {@link Certificate.getId}),
 * the signature RSA-PSS over `body`. The receiver splits at most 4 times (the body may contain the
 * separator), looks the signer up in its cert store, verifies, then decodes the body with its own
 * content type whatever `accept_content` says (kombu's `loads(..., force=True)`).
 */
import type { PyValue } from '../values.ts';
import { dumps, loads, registerSerializer, unregisterSerializer, type Serializer } from '../serialization/registry.ts';
import { CertStore, Certificate, PrivateKey, digestAlgorithm, pyExcRepr } from './certificate.ts';
import { SecurityError } from './errors.ts';

export const AUTH_CONTENT_TYPE = 'application/data';
const SEP = Buffer.from([0x00, 0x01]);

export interface SecureSerializerOptions {
  key?: PrivateKey | null;
  cert?: Certificate | null;
  store?: CertStore | null;
  /** `security_digest`. @default 'sha256' */
  digest?: string;
  /** The inner serializer. @default 'json' */
  serializer?: string;
}

/** Python's `base64.b64decode` (not validating): drops non-alphabet bytes, refuses bad lengths and padding. */
function b64decode(data: Uint8Array): Buffer {
  const s = Buffer.from(data).toString('latin1').replace(/[^A-Za-z0-9+/=]/g, '');
  const core = s.replace(/=+$/, '');
  if (core.includes('=')) throw new Error('Invalid base64-encoded string');
  if (core.length % 4 === 1) {
    throw new Error(`Invalid base64-encoded string: number of data characters (${core.length}) cannot be 1 more than a multiple of 4`);
  }
  if (s.length % 4 !== 0) throw new Error('Incorrect padding');
  return Buffer.from(s, 'base64');
}

function splitMax(b: Buffer, maxsplit: number): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  while (out.length < maxsplit) {
    const i = b.indexOf(SEP, from);
    if (i < 0) break;
    out.push(b.subarray(from, i));
    from = i + SEP.length;
  }
  out.push(b.subarray(from));
  return out;
}

export interface SignedPayload {
  signer: string;
  signature: Buffer;
  contentType: string;
  contentEncoding: string;
  body: Buffer;
}

export class SecureSerializer {
  readonly digest: string;
  readonly serializer: string;
  private readonly key: PrivateKey | null;
  private readonly cert: Certificate | null;
  private readonly store: CertStore | null;

  constructor(o: SecureSerializerOptions) {
    this.key = o.key ?? null;
    this.cert = o.cert ?? null;
    this.store = o.store ?? null;
    this.digest = digestAlgorithm(o.digest ?? 'sha256');
    this.serializer = o.serializer ?? 'json';
  }

  /** `serialize(data)`: the base64 text as bytes. */
  serialize(value: PyValue): Uint8Array {
    if (!this.key || !this.cert) throw new SecurityError('Unable to serialize: no security_key / security_certificate to sign with');
    const { body, contentType, contentEncoding } = dumps(value, this.serializer);
    const signature = this.key.sign(body, this.digest);
    return SecureSerializer.pack({ signer: this.cert.getId(), signature: Buffer.from(signature), contentType, contentEncoding, body: Buffer.from(body) });
  }

  /** `deserialize(data)`: verify, then decode the inner body. Throws {@link SecurityError} `Unable to deserialize: ...`. */
  deserialize(data: Uint8Array): PyValue {
    if (!this.store) throw new SecurityError('Unable to deserialize: no security_cert_store to verify with');
    let p: SignedPayload;
    try {
      p = SecureSerializer.unpack(data);
      this.store.get(p.signer).verify(p.body, p.signature, this.digest);
    } catch (err) {
      const e = err as Error;
      const what = err instanceof SecurityError ? pyExcRepr('SecurityError', e.message.replace(/^body: /, '')) : pyExcRepr(e.name || 'Error', e.message);
      throw new SecurityError(`Unable to deserialize: ${what}`, { cause: err });
    }
    return loads(p.body, p.contentType, p.contentEncoding, [p.contentType || 'application/data']);
  }

  /** `_pack`: base64 of the five fields joined by `\x00\x01`. */
  static pack(p: SignedPayload): Uint8Array {
    const fields = Buffer.concat([
      Buffer.from(Buffer.from(p.signer, 'utf8').toString('base64'), 'latin1'), SEP,
      Buffer.from(p.signature.toString('base64'), 'latin1'), SEP,
      Buffer.from(p.contentType, 'utf8'), SEP,
      Buffer.from(p.contentEncoding, 'utf8'), SEP,
      p.body,
    ]);
    return new Uint8Array(Buffer.from(fields.toString('base64'), 'latin1'));
  }

  /** `_unpack`, failing where and as Python's does (fields read in order; a missing one is an `IndexError`). */
  static unpack(data: Uint8Array): SignedPayload {
    const v = splitMax(b64decode(data), 4);
    const at = (i: number): Buffer => {
      const f = v[i];
      if (f) return f;
      const e = new Error('list index out of range');
      e.name = 'IndexError';
      throw e;
    };
    const signer = b64decode(at(0)).toString('utf8');
    const signature = b64decode(at(1));
    const contentType = at(2).toString('utf8');
    const contentEncoding = at(3).toString('utf8');
    return { signer, signature, contentType, contentEncoding, body: at(4) };
  }

  /** The `auth` entry for the serializer registry. */
  asSerializer(): Serializer {
    return {
      name: 'auth',
      contentType: AUTH_CONTENT_TYPE,
      contentEncoding: 'utf-8',
      encode: (v) => this.serialize(v),
      decode: (b) => this.deserialize(b),
    };
  }
}

/**
 * `register_auth`: makes `auth` (and the content type `application/data`) sign and verify with these
 * keys, in this process's serializer registry, as kombu's registry does in Python. Returns the
 * serializer; {@link unregisterAuth} undoes it.
 */
export function registerAuth(o: SecureSerializerOptions): SecureSerializer {
  const s = new SecureSerializer(o);
  registerSerializer(s.asSerializer());
  return s;
}

export function unregisterAuth(): void {
  unregisterSerializer('auth');
}
