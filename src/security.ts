/**
 * Celery's `app.setup_security()` from the settings: reads `security_key`, `security_certificate` and
 * the certificates of `security_cert_store` (a directory, or a glob, as Celery's `FSCertStore`) and
 * registers the `auth` serializer (protocol/security) so the app signs what it sends with
 * `task_serializer: 'auth'` and a worker with `accept_content: ['auth']` verifies what it receives.
 *
 * Unlike Celery, which needs an explicit `app.setup_security()` call, this runs when the settings use
 * `auth` (as task_serializer or in accept_content); those settings without the three files are a
 * configuration error (Celery's SECURITY_SETTING_MISSING).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CertStore, Certificate, PrivateKey, registerAuth, SecurityError, type SecureSerializer } from '../protocol/security/index.ts';
import type { Settings } from './config.ts';
import { ConfigurationError } from './errors.ts';
import { globToRegExp } from './routing.ts';

export const SECURITY_SETTING_MISSING =
  'the auth serializer needs security_key, security_certificate and security_cert_store (Celery: "you have to configure the security_key, security_certificate, and the security_cert_store configuration settings to use the auth serializer")';

/** The files `FSCertStore(path)` reads: every entry of a directory, else the glob's matches (no dotfiles, as Python's glob). */
export function certStorePaths(path: string): string[] {
  let dir = path;
  let re = /^[^.]/;
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch { /* a glob, or nothing */ }
  if (!isDir) {
    dir = dirname(path);
    const pat = basename(path);
    if (!/[*?[]/.test(pat)) return existsFile(path) ? [path] : [];
    const g = globToRegExp(pat);
    re = pat.startsWith('.') ? g : new RegExp(`(?!\\.)${g.source}`);
  }
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => re.test(n)).sort().map((n) => join(dir, n)).filter(existsFile);
}

function existsFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Celery's `FSCertStore(path)`. */
export function fsCertStore(path: string, now: Date = new Date()): CertStore {
  return CertStore.fromPems(certStorePaths(path).map((p) => readFileSync(p)), now);
}

type SecuritySettings = Pick<Settings, 'taskSerializer' | 'acceptContent' | 'resultSerializer' | 'resultAcceptContent' | 'securityKey' | 'securityKeyPassword' | 'securityCertificate' | 'securityCertStore' | 'securityDigest'>;

/** Whether the settings ask for message signing (of task messages, or of results: `result_serializer: 'auth'`). */
export function usesAuth(s: Pick<Settings, 'taskSerializer' | 'acceptContent'> & Partial<Pick<Settings, 'resultSerializer' | 'resultAcceptContent'>>): boolean {
  return s.taskSerializer === 'auth' || s.acceptContent.includes('auth') || s.acceptContent.includes('application/data') ||
    s.resultSerializer === 'auth' || (s.resultAcceptContent ?? []).includes('auth');
}

function signs(s: SecuritySettings): boolean {
  return s.taskSerializer === 'auth' || s.acceptContent.includes('auth') || s.resultSerializer === 'auth' || (s.resultAcceptContent ?? []).includes('auth');
}

/**
 * `setup_security()` with the settings: registers `auth` when the settings use it and returns the
 * serializer (null when they do not). Throws a {@link ConfigurationError} naming what is wrong.
 */
export function setupSecurity(s: SecuritySettings): SecureSerializer | null {
  if (!usesAuth(s)) return null;
  if (!s.securityKey || !s.securityCertificate || !s.securityCertStore) {
    if (!signs(s)) return null; // application/data alone: kombu's raw bodies
    throw new ConfigurationError(SECURITY_SETTING_MISSING);
  }
  const read = (setting: string, p: string): Buffer => {
    try {
      return readFileSync(p);
    } catch (err) {
      throw new ConfigurationError(`${setting}: cannot read ${p}: ${(err as Error).message}`, { cause: err });
    }
  };
  try {
    return registerAuth({
      key: new PrivateKey(read('security_key', s.securityKey), s.securityKeyPassword),
      cert: new Certificate(read('security_certificate', s.securityCertificate)),
      store: fsCertStore(s.securityCertStore),
      digest: s.securityDigest,
    });
  } catch (err) {
    if (err instanceof SecurityError) throw new ConfigurationError(`message signing: ${err.reason}`, { cause: err });
    throw err;
  }
}

/** {@link setupSecurity} as a step of resolving settings: returns them unchanged. */
export function withSecurity<S extends SecuritySettings>(s: S): S {
  setupSecurity(s);
  return s;
}
