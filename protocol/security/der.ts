/**
 * The two fields of an X.509 certificate that Celery's `Certificate.get_id()` reads (the issuer's
 * attribute values and the serial number), taken from the DER: node:crypto's `X509Certificate`
 * gives the issuer only as escaped text and the serial only as hex.
 */
import { SecurityError } from './errors.ts';

interface Tlv { tag: number; start: number; end: number }

function tlv(b: Uint8Array, off: number, limit: number): Tlv {
  if (off + 2 > limit) throw new SecurityError('Invalid certificate: truncated DER');
  const tag = b[off]!;
  let len = b[off + 1]!;
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new SecurityError('Invalid certificate: bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]!;
    start += n;
  }
  if (start + len > limit) throw new SecurityError('Invalid certificate: truncated DER');
  return { tag, start, end: start + len };
}

function children(b: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = t.start; off < t.end;) {
    const c = tlv(b, off, t.end);
    out.push(c);
    off = c.end;
  }
  return out;
}

/** A DER INTEGER (two's complement, big-endian) as a bigint: cryptography's `serial_number`. */
function integer(b: Uint8Array, t: Tlv): bigint {
  let v = 0n;
  for (let i = t.start; i < t.end; i++) v = (v << 8n) | BigInt(b[i]!);
  const bits = BigInt((t.end - t.start) * 8);
  if (t.end > t.start && b[t.start]! & 0x80) v -= 1n << bits;
  return v;
}

/** An attribute value as cryptography's `NameAttribute.value` (a str). */
function text(b: Uint8Array, t: Tlv): string {
  const bytes = Buffer.from(b.subarray(t.start, t.end));
  switch (t.tag) {
    case 0x1e: // BMPString
      return new TextDecoder('utf-16be').decode(bytes);
    case 0x1c: { // UniversalString (UTF-32BE)
      let s = '';
      for (let i = 0; i + 3 < bytes.length; i += 4) s += String.fromCodePoint(bytes.readUInt32BE(i));
      return s;
    }
    case 0x14: // T61String
      return bytes.toString('latin1');
    default: // UTF8String, PrintableString, IA5String, NumericString, VisibleString
      return bytes.toString('utf8');
  }
}

/** The serial number and the issuer's attribute values, in their DER order. */
export function certificateIdParts(der: Uint8Array): { serial: bigint; issuer: string[] } {
  const cert = tlv(der, 0, der.length);
  const tbs = children(der, cert)[0];
  if (!tbs) throw new SecurityError('Invalid certificate: no TBSCertificate');
  const f = children(der, tbs);
  let i = 0;
  if (f[0]?.tag === 0xa0) i = 1; // [0] version
  const serial = f[i];
  const issuer = f[i + 2];
  if (!serial || serial.tag !== 0x02 || !issuer || issuer.tag !== 0x30) throw new SecurityError('Invalid certificate: unexpected TBSCertificate layout');
  const values: string[] = [];
  for (const rdn of children(der, issuer)) {
    for (const atv of children(der, rdn)) {
      const [, value] = children(der, atv);
      if (value) values.push(text(der, value));
    }
  }
  return { serial: integer(der, serial), issuer: values };
}
