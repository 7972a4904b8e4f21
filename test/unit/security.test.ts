// Celery's auth serializer (protocol/security): the byte layout and signatures against Celery's own
// SecureSerializer (test/python/security_serializer.py), with a throwaway key/cert made by openssl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, copyFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Certificate, CertStore, PrivateKey, SecureSerializer, SecurityError, registerAuth, unregisterAuth } from '../../protocol/security/index.ts';
import { pyExcRepr } from '../../protocol/security/certificate.ts';
import { loads, dumps } from '../../protocol/serialization/index.ts';
import type { PyValue } from '../../protocol/values.ts';
import { requirePython, runPython } from '../helpers/peers.ts';

const PY = 'test/python/security_serializer.py';
let dir = '';
const path = (f: string) => join(dir, f);

function makePair(name: string, subj: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', subj, '-days', '2',
    '-keyout', path(`${name}.key`), '-out', path(`${name}.pem`)], { stdio: 'ignore' });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-sec-'));
  makePair('a', '/CN=celeriac-test');
  makePair('b', '/C=FR/O=Other Org/CN=other');
  mkdirSync(path('store'));
  copyFileSync(path('a.pem'), path('store/a.pem'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function serializer(signer = 'a'): SecureSerializer {
  return new SecureSerializer({
    key: new PrivateKey(readFileSync(path(`${signer}.key`))),
    cert: new Certificate(readFileSync(path(`${signer}.pem`))),
    store: CertStore.fromPems([readFileSync(path('store/a.pem'))]),
  });
}

function pyDoc(ops: object[], signer = 'a'): object {
  return { key: path(`${signer}.key`), cert: path(`${signer}.pem`), store: path('store'), ops };
}

const VALUE: PyValue = [[1, 'two', { x: null }], { k: 'v\u00e9' }, { callbacks: null, errbacks: null, chain: null, chord: null }];

test('a body Celery signed: byte layout, signer id and signature verify in TypeScript', async (t) => {
  if (!requirePython(t)) return;
  const [signed] = JSON.parse(await runPython(PY, pyDoc([{ op: 'sign', value: VALUE }]))) as [{ body: string }];
  const wire = new TextEncoder().encode(signed.body);
  const p = SecureSerializer.unpack(wire);
  assert.equal(p.signer, new Certificate(readFileSync(path('a.pem'))).getId());
  assert.match(p.signer, /^celeriac-test \d+$/);
  assert.equal(p.contentType, 'application/json');
  assert.equal(p.contentEncoding, 'utf-8');
  assert.equal(p.body.toString(), JSON.stringify(VALUE).replace(/,/g, ', ').replace(/:/g, ': ').replace(/\u00e9/g, '\\u00e9'));
  assert.equal(p.signature.length, 256);
  // re-packed from its fields, the same bytes
  assert.deepEqual(Buffer.from(SecureSerializer.pack(p)).toString(), signed.body);
  assert.deepEqual(serializer().deserialize(wire), VALUE);
});

test('a body TypeScript signed is verified by Celery; tampered, foreign and garbage bodies refused by both alike', async (t) => {
  if (!requirePython(t)) return;
  const s = serializer();
  const good = Buffer.from(s.serialize(VALUE)).toString();
  const raw = Buffer.from(good, 'base64');
  const tampered = Buffer.from(raw.toString('latin1').replace('"two"', '"tw0"'), 'latin1').toString('base64');
  const foreign = Buffer.from(serializer('b').serialize(VALUE)).toString();
  const short = Buffer.from('eA==\x00\x01eQ==\x00\x01ct').toString('base64');
  const padding = Buffer.from('abc\x00\x01def').toString('base64');
  const bodies = { good, tampered, foreign, short, garbage: 'not base64!', padding };
  const py = JSON.parse(await runPython(PY, pyDoc(Object.values(bodies).map((body) => ({ op: 'verify', body }))))) as { value?: unknown; error?: string }[];
  const ts = Object.values(bodies).map((body) => {
    try {
      return { value: s.deserialize(new TextEncoder().encode(body)) };
    } catch (err) {
      assert.ok(err instanceof SecurityError, String(err));
      return { error: err.reason };
    }
  });
  assert.deepEqual(py[0], { value: VALUE });
  assert.deepEqual(ts[0], { value: VALUE });
  const names = Object.keys(bodies);
  for (let i = 1; i < names.length; i++) {
    assert.ok(py[i]!.error, `${names[i]}: Celery refused it`);
    assert.ok(ts[i]!.error, `${names[i]}: TypeScript refused it`);
  }
  // Celery's reason, repr'd as Python prints the SecurityError, for all but a bad signature: Celery
  // 5.6.3's reraise_errors catches the module cryptography.exceptions, which raises TypeError;
  // celeriac says what Celery means to say there
  assert.match(py[1]!.error!, /Unable to deserialize: TypeError\('catching classes that do not inherit from BaseException is not allowed'\)/);
  assert.equal(ts[1]!.error, "Unable to deserialize: SecurityError('Bad signature: InvalidSignature()')");
  const id = new Certificate(readFileSync(path('b.pem'))).getId();
  assert.equal(ts[2]!.error, `Unable to deserialize: SecurityError("Unknown certificate: b'${id}'")`);
  assert.equal(ts[3]!.error, "Unable to deserialize: IndexError('list index out of range')");
  assert.equal(ts[5]!.error, "Unable to deserialize: Error('Incorrect padding')");
  for (const i of [2, 3, 4, 5]) assert.equal(pyExcRepr('SecurityError', ts[i]!.error!), py[i]!.error, names[i]);
});

test('the certificate id is issuer values then the decimal serial, as cryptography reads them', async (t) => {
  if (!requirePython(t)) return;
  const c = new Certificate(readFileSync(path('b.pem')));
  const serial = BigInt(`0x${c.x509.serialNumber}`);
  assert.equal(c.getId(), `FR Other Org other ${serial}`);
});

test('registered as auth: application/data bodies are verified by loads, json is refused by accept_content [auth]', () => {
  const s = serializer();
  registerAuth({ key: new PrivateKey(readFileSync(path('a.key'))), cert: new Certificate(readFileSync(path('a.pem'))), store: CertStore.fromPems([readFileSync(path('a.pem'))]) });
  try {
    const d = dumps(VALUE, 'auth');
    assert.equal(d.contentType, 'application/data');
    assert.deepEqual(loads(d.body, d.contentType, d.contentEncoding, ['auth']), VALUE);
    assert.deepEqual(loads(s.serialize(VALUE), 'application/data', 'utf-8', ['auth']), VALUE);
    assert.throws(() => loads(dumps(VALUE, 'json').body, 'application/json', 'utf-8', ['auth']), /refusing to deserialize content of type "application\/json"/);
    assert.throws(() => loads(serializer('b').serialize(VALUE), 'application/data', 'utf-8', ['auth']), SecurityError);
  } finally {
    unregisterAuth();
  }
  assert.throws(() => dumps(VALUE, 'auth'), /security_key/);
});

test('an expired certificate in the store is refused as Celery refuses it', () => {
  const pem = readFileSync(path('a.pem'));
  assert.throws(() => CertStore.fromPems([pem], new Date(Date.now() + 5 * 86400_000)), /Expired certificate: 'celeriac-test \d+'/);
  assert.throws(() => CertStore.fromPems([pem, pem]), /Duplicate certificate/);
});
