/**
 * Celery's `celery/security/certificate.py` and `key.py`: an RSA X.509 certificate identified by
 * issuer and serial number, a store of them, and an RSA private key. RSA-PSS with MGF1 over the same
 * digest and the largest salt (cryptography's `PSS.MAX_LENGTH`), as Celery signs and verifies.
 */
import { X509Certificate, constants, createPrivateKey, sign, verify, type KeyObject } from 'node:crypto';
import { certificateIdParts } from './der.ts';
import { SecurityError } from './errors.ts';

/** Python's repr of an exception text, as `{0!r}` of an exception prints it (`Cls('text')`). */
export function pyExcRepr(cls: string, text: string): string {
  const q = text.includes("'") && !text.includes('"') ? '"' : "'";
  const body = text.replace(/\\/g, '\\\\').replace(new RegExp(q, 'g'), `\\${q}`);
  return `${cls}(${q}${body}${q})`;
}

/** Python's repr of a bytes value that is ASCII (a signer id is). */
function bytesRepr(s: string): string {
  return `b${pyExcRepr('', s).slice(1, -1)}`;
}

/**
 * A digest name (`sha256`, `SHA512`, `sha3_256`) as node:crypto's; Celery reads it as
 * `getattr(cryptography.hazmat.primitives.hashes, digest.upper())`.
 */
export function digestAlgorithm(digest: string): string {
  const map: Record<string, string> = {
    SHA1: 'sha1', SHA224: 'sha224', SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512',
    SHA512_224: 'sha512-224', SHA512_256: 'sha512-256',
    SHA3_224: 'sha3-224', SHA3_256: 'sha3-256', SHA3_384: 'sha3-384', SHA3_512: 'sha3-512',
  };
  const d = map[digest.toUpperCase()];
  if (!d) throw new SecurityError(`security_digest: unknown digest ${JSON.stringify(digest)} (known: ${Object.keys(map).map((k) => k.toLowerCase()).join(', ')})`);
  return d;
}

const DIGEST_BYTES: Record<string, number> = {
  sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64, 'sha512-224': 28, 'sha512-256': 32,
  'sha3-224': 28, 'sha3-256': 32, 'sha3-384': 48, 'sha3-512': 64,
};

/** PSS's largest salt for an RSA key: emLen - hLen - 2 (cryptography's `calculate_max_pss_salt_length`). */
function maxSalt(key: KeyObject, digest: string): number {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  return Math.ceil((bits - 1) / 8) - (DIGEST_BYTES[digest] ?? 0) - 2;
}

/** Celery's `Certificate`: an RSA X.509 certificate in PEM. */
export class Certificate {
  readonly x509: X509Certificate;
  private readonly id: string;
  constructor(pem: string | Uint8Array) {
    try {
      this.x509 = new X509Certificate(pem);
    } catch (err) {
      throw new SecurityError(`Invalid certificate: ${pyExcRepr('ValueError', (err as Error).message)}`, { cause: err });
    }
    if (this.x509.publicKey.asymmetricKeyType !== 'rsa') {
      throw new SecurityError(`Invalid certificate: ${pyExcRepr('ValueError', 'Non-RSA certificates are not supported.')}`);
    }
    const { serial, issuer } = certificateIdParts(this.x509.raw);
    this.id = `${issuer.join(' ')} ${serial}`;
  }

  /** `get_id()`: the issuer's attribute values joined by spaces, a space, the serial number in decimal. */
  getId(): string {
    return this.id;
  }

  hasExpired(now: Date = new Date()): boolean {
    return now.getTime() >= new Date(this.x509.validTo).getTime();
  }

  /** `verify(data, signature, digest)`: throws {@link SecurityError} `Bad signature: ...` when it does not match. */
  verify(data: Uint8Array, signature: Uint8Array, digest: string): void {
    const key = this.x509.publicKey;
    let ok: boolean;
    try {
      ok = verify(digest, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: maxSalt(key, digest) }, signature);
    } catch (err) {
      throw new SecurityError(`Bad signature: ${pyExcRepr('InvalidSignature', (err as Error).message)}`, { cause: err });
    }
    if (!ok) throw new SecurityError('Bad signature: InvalidSignature()');
  }
}

/** Celery's `CertStore`: certificates by id. */
export class CertStore {
  private readonly certs = new Map<string, Certificate>();

  add(cert: Certificate): void {
    const id = cert.getId();
    if (this.certs.has(id)) throw new SecurityError(`Duplicate certificate: ${JSON.stringify(id)}`);
    this.certs.set(id, cert);
  }

  /** `store[id]`: throws `Unknown certificate: b'...'` as Celery (the signer id is bytes there). */
  get(id: string): Certificate {
    const c = this.certs.get(id);
    if (!c) throw new SecurityError(`Unknown certificate: ${bytesRepr(id)}`);
    return c;
  }

  *[Symbol.iterator](): IterableIterator<Certificate> {
    yield* this.certs.values();
  }

  get size(): number {
    return this.certs.size;
  }

  /**
   * A store of PEM texts (FSCertStore without the file system: src/security.ts reads the files). An
   * expired certificate is refused as Celery refuses it: `Expired certificate: '<id>'`.
   */
  static fromPems(pems: Iterable<string | Uint8Array>, now: Date = new Date()): CertStore {
    const store = new CertStore();
    for (const pem of pems) {
      const cert = new Certificate(pem);
      if (cert.hasExpired(now)) throw new SecurityError(`Expired certificate: ${pyExcRepr('', cert.getId()).slice(1, -1)}`);
      store.add(cert);
    }
    return store;
  }
}

/** Celery's `PrivateKey`: an RSA private key in PEM, maybe encrypted with `security_key_password`. */
export class PrivateKey {
  readonly key: KeyObject;
  constructor(pem: string | Uint8Array, password?: string | Uint8Array | null) {
    try {
      this.key = createPrivateKey({ key: Buffer.from(pem), format: 'pem', ...(password ? { passphrase: Buffer.from(password) } : {}) });
    } catch (err) {
      throw new SecurityError(`Invalid private key: ${pyExcRepr('ValueError', (err as Error).message)}`, { cause: err });
    }
    if (this.key.asymmetricKeyType !== 'rsa') {
      throw new SecurityError(`Invalid private key: ${pyExcRepr('ValueError', 'Non-RSA keys are not supported.')}`);
    }
  }

  /** `sign(data, digest)`: RSA-PSS, MGF1(digest), the largest salt. */
  sign(data: Uint8Array, digest: string): Uint8Array {
    try {
      return sign(digest, data, { key: this.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: maxSalt(this.key, digest) });
    } catch (err) {
      throw new SecurityError(`Unable to sign data: ${pyExcRepr('Error', (err as Error).message)}`, { cause: err });
    }
  }
}
