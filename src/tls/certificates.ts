// X.509 certificates issued by the operator with node:crypto alone (it signs, but does not build
// certificates): a per-cell CA and the server certificates it signs, ECDSA P-256 with SHA-256,
// DER-encoded here by hand (the few ASN.1 types a certificate needs) and checked by
// crypto.X509Certificate and by openssl in certificates.test.ts. Keys and serials come from the
// caller's randomness; the clock is an argument.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

// --- DER ------------------------------------------------------------------------------------------

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(value.length), value]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const octetString = (value: Buffer) => tlv(0x04, value);
const bitString = (value: Buffer, unusedBits = 0) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), value]));
const utf8String = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const boolean = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
const explicit = (n: number, value: Buffer) => tlv(0xa0 + n, value);

/** A non-negative INTEGER from big-endian bytes (a leading 0 when the top bit is set). */
function integer(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0 && (bytes[i + 1]! & 0x80) === 0) i++;
  const trimmed = bytes.subarray(i);
  return tlv(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [];
    let v = part;
    do {
      chunk.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let k = 0; k < chunk.length - 1; k++) chunk[k]! |= 0x80;
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
function time(at: Date): Buffer {
  const iso = at.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  return at.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : tlv(0x18, Buffer.from(iso, 'ascii'));
}

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

const name = (commonName: string) => sequence(set(sequence(oid(OID.commonName), utf8String(commonName))));

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** dNSName [2] or iPAddress [7] (IPv4 and IPv6). */
function generalName(host: string): Buffer {
  const family = isIP(host);
  if (family === 4) return tlv(0x87, Buffer.from(host.split('.').map(Number)));
  if (family === 6) {
    const [head = '', tail = ''] = host.split('::');
    const groups = (s: string) => (s ? s.split(':') : []);
    const h = groups(head);
    const t = host.includes('::') ? groups(tail) : [];
    const all = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    return tlv(0x87, Buffer.concat(all.map((g) => Buffer.from(g.padStart(4, '0'), 'hex'))));
  }
  return tlv(0x82, Buffer.from(host, 'ascii'));
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2, method 1). */
function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // SubjectPublicKeyInfo = SEQUENCE { algorithm SEQUENCE, subjectPublicKey BIT STRING }: the last
  // element; for P-256 the BIT STRING is the 65-byte uncompressed point after one unused-bits byte.
  const point = spki.subarray(spki.length - 65);
  return createHash('sha1').update(point).digest();
}

// --- Certificates ---------------------------------------------------------------------------------

/** PEM text of a certificate and its private key (PKCS #8). */
export interface IssuedCertificate {
  cert: string;
  key: string;
}

interface CertificateRequest {
  subject: string;
  publicKey: KeyObject;
  issuer: { name: string; key: KeyObject; publicKey: KeyObject };
  notBefore: Date;
  notAfter: Date;
  ca: boolean;
  hosts?: readonly string[];
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function serial(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, and 16 bytes long
  return bytes;
}

function certificateDer(r: CertificateRequest): Buffer {
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const extensions = [
    extension(OID.basicConstraints, true, r.ca ? sequence(boolean(true), integer(Buffer.from([0]))) : sequence()),
    // CA: keyCertSign + cRLSign; server: digitalSignature (ECDHE key exchange).
    extension(OID.keyUsage, true, r.ca ? bitString(Buffer.from([0x06]), 1) : bitString(Buffer.from([0x80]), 7)),
    ...(r.ca ? [] : [extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth)))]),
    ...(r.hosts?.length ? [extension(OID.subjectAltName, false, sequence(...r.hosts.map(generalName)))] : []),
    extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(r.publicKey))),
    extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, keyIdentifier(r.issuer.publicKey)))),
  ];
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial()),
    algorithm,
    name(r.issuer.name),
    sequence(time(r.notBefore), time(r.notAfter)),
    name(r.subject),
    r.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, r.issuer.key); // DER ECDSA-Sig-Value
  return sequence(tbs, algorithm, bitString(signature));
}

function newKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

/** A self-signed CA that may sign server certificates only (pathLen 0). */
export function issueCertificateAuthority(commonName: string, now: Date, validDays: number): IssuedCertificate {
  const { privateKey, publicKey } = newKeyPair();
  const notBefore = new Date(now.getTime() - 5 * 60_000); // tolerate clocks a little behind
  const notAfter = new Date(now.getTime() + validDays * 86_400_000);
  const der = certificateDer({ subject: commonName, publicKey, issuer: { name: commonName, key: privateKey, publicKey }, notBefore, notAfter, ca: true });
  return { cert: pem('CERTIFICATE', der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A server certificate for `hosts` (DNS names, `*.` wildcards, IP addresses) signed by `ca`. */
export function issueServerCertificate(ca: IssuedCertificate, hosts: readonly string[], now: Date, validDays: number): IssuedCertificate {
  if (hosts.length === 0) throw new Error('a server certificate needs at least one host name');
  const caCert = new X509Certificate(ca.cert);
  const caKey = createPrivateKey(ca.key);
  const { privateKey, publicKey } = newKeyPair();
  const notBefore = new Date(now.getTime() - 5 * 60_000);
  // Never past the CA's own expiry: a chain is only as valid as its shortest link.
  const notAfter = new Date(Math.min(now.getTime() + validDays * 86_400_000, Date.parse(caCert.validTo)));
  const der = certificateDer({
    subject: hosts[0]!,
    publicKey,
    issuer: { name: caCert.subject.replace(/^CN=/, ''), key: caKey, publicKey: createPublicKey(caKey) },
    notBefore,
    notAfter,
    ca: false,
    hosts,
  });
  return { cert: pem('CERTIFICATE', der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** The names (DNS:…, IP Address:…) a certificate holds, as crypto.X509Certificate lists them. */
export function certificateHosts(cert: string): string[] {
  const san = new X509Certificate(cert).subjectAltName ?? '';
  return san
    .split(', ')
    .filter(Boolean)
    .map((entry) => entry.replace(/^DNS:/, '').replace(/^IP Address:/, ''));
}
