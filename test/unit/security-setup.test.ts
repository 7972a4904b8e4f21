// Message signing from the settings (src/security.ts): FSCertStore's paths, setup errors, and an app
// with task_serializer 'auth' signing what it prepares (verified by the store, refused when altered).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Celery } from '../../src/app.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { certStorePaths, fsCertStore } from '../../src/security.ts';
import { SecureSerializer, SecurityError, unregisterAuth } from '../../protocol/security/index.ts';
import { decodeBody } from '../../protocol/message.ts';

let dir = '';
const path = (f: string) => join(dir, f);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-sec-setup-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=celeriac-test', '-days', '2',
    '-keyout', path('a.key'), '-out', path('a.pem')], { stdio: 'ignore' });
  mkdirSync(path('store'));
  copyFileSync(path('a.pem'), path('store/a.pem'));
  copyFileSync(path('a.pem'), path('store/.hidden.pem'));
  writeFileSync(path('store/notes.txt'), 'not a certificate');
});
after(() => {
  unregisterAuth();
  rmSync(dir, { recursive: true, force: true });
});

test("FSCertStore's paths: a directory's entries (no dotfiles), or a glob's matches", () => {
  assert.deepEqual(certStorePaths(path('store')), [path('store/a.pem'), path('store/notes.txt')]);
  assert.deepEqual(certStorePaths(path('store/*.pem')), [path('store/a.pem')]);
  assert.deepEqual(certStorePaths(path('store/a.pem')), [path('store/a.pem')]);
  assert.deepEqual(certStorePaths(path('nowhere/*.pem')), []);
  assert.equal(fsCertStore(path('store/*.pem')).size, 1);
  assert.throws(() => fsCertStore(path('store')), /Invalid certificate/); // notes.txt, as Celery would
});

const security = () => ({ security_key: path('a.key'), security_certificate: path('a.pem'), security_cert_store: path('store/*.pem') });

test('auth without the three files, or with a bad one, is a configuration error naming it', () => {
  assert.throws(() => new Celery({ env: {}, task_serializer: 'auth' }), (e: Error) => e instanceof ConfigurationError && /security_key, security_certificate and security_cert_store/.test(e.message));
  assert.throws(() => new Celery({ env: {}, accept_content: ['auth'], security_key: path('a.key'), security_certificate: path('a.pem') }), ConfigurationError);
  assert.throws(() => new Celery({ env: {}, task_serializer: 'auth', ...security(), security_key: path('missing.key') }), /security_key: cannot read/);
  assert.throws(() => new Celery({ env: {}, task_serializer: 'auth', ...security(), security_key: path('a.pem') }), /message signing: Invalid private key/);
  assert.throws(() => new Celery({ env: {}, task_serializer: 'auth', ...security(), security_digest: 'md4' }), /unknown digest "md4"/);
  new Celery({ env: {}, accept_content: ['json', 'application/data'] }); // kombu's raw bodies: no signing asked
});

test("an app with task_serializer 'auth' signs what it sends; the store verifies it; an altered body is refused", () => {
  const app = new Celery({ env: {}, broker_url: 'memory://', task_serializer: 'auth', accept_content: ['auth'], ...security() });
  const p = app.prepareTask('sec.add', [2, 3]);
  assert.equal(p.raw.contentType, 'application/data');
  assert.equal(p.raw.contentEncoding, 'utf-8');
  const signed = SecureSerializer.unpack(p.raw.body);
  assert.match(signed.signer, /^celeriac-test \d+$/);
  assert.equal(signed.contentType, 'application/json');
  assert.deepEqual(decodeBody(p.raw, { accept: ['auth'] }), [[2, 3], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]);
  const altered = Buffer.from(SecureSerializer.pack({ ...signed, body: Buffer.from(signed.body.toString().replace('[2, 3]', '[2, 4]')) }));
  assert.throws(() => decodeBody({ ...p.raw, body: altered }, { accept: ['auth'] }), (e: Error) => e instanceof SecurityError && /Bad signature/.test(e.message));
  assert.throws(() => decodeBody({ ...p.raw, contentType: 'application/json', body: signed.body }, { accept: ['auth'] }), /not in accept_content/);
});
