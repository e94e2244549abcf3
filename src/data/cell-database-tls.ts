// The in-cluster database's TLS: a CA per cell and the certificate its servers (coordinator and
// workers) present, issued by the operator and kept in the cell's `<cell>-db-tls` Secret. Read back
// on every reconcile like the generated password; the server certificate is issued again when it
// nears its end or no longer names the servers, the CA only when it is missing or unusable (or a
// person deleted the Secret to rotate it).
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import type { Cell } from '../crds/cell.js';
import { cellName, cellNamespace, databaseServerHosts, databaseTlsSecretName } from '../crds/cell-names.js';
import { isNotFound, type KubeClient } from '../runtime/kube-client.js';
import { builtin, resourcePath } from '../runtime/resource.js';
import { certificateHosts, issueCertificateAuthority, issueServerCertificate } from '../tls/certificates.js';

/** The keys of the TLS Secret (type kubernetes.io/tls: tls.crt and tls.key, plus the CA). */
export const DATABASE_TLS_KEYS = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt', caKey: 'ca.key' } as const;

/** PEM texts: the cell's CA and its key, the servers' certificate and key. */
export interface DatabaseTls {
  ca: string;
  caKey: string;
  cert: string;
  key: string;
}

export const CA_VALID_DAYS = 3650;
export const SERVER_VALID_DAYS = 365;
/** A server certificate is issued again this long before it expires (the pods restart with it). */
export const SERVER_RENEW_BEFORE_DAYS = 30;

export type TlsDecision = { action: 'Keep' } | { action: 'IssueServer'; why: string } | { action: 'IssueAuthority'; why: string };

/** Whether the certificate's key is `key` (same public key). */
function keyMatches(cert: X509Certificate, key: string): boolean {
  const fromKey = createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'der' });
  return Buffer.compare(cert.publicKey.export({ type: 'spki', format: 'der' }), fromKey) === 0;
}

/** What to do with the TLS material found (possibly none) for servers named `hosts`, at `now`. Pure. */
export function decideTls(found: Partial<DatabaseTls> | undefined, hosts: readonly string[], now: Date): TlsDecision {
  let ca: X509Certificate;
  try {
    if (!found?.ca || !found.caKey) return { action: 'IssueAuthority', why: 'there is no CA yet' };
    ca = new X509Certificate(found.ca);
    if (!ca.ca || !keyMatches(ca, found.caKey)) return { action: 'IssueAuthority', why: 'the CA certificate and key do not belong together' };
  } catch {
    return { action: 'IssueAuthority', why: 'the CA is not readable' };
  }
  if (Date.parse(ca.validTo) <= now.getTime()) return { action: 'IssueAuthority', why: 'the CA has expired' };
  try {
    if (!found.cert || !found.key) return { action: 'IssueServer', why: 'there is no server certificate yet' };
    const cert = new X509Certificate(found.cert);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey) || !keyMatches(cert, found.key)) return { action: 'IssueServer', why: 'the server certificate is not the CA\'s' };
    const names = certificateHosts(found.cert);
    if (names.length !== hosts.length || hosts.some((h) => !names.includes(h))) return { action: 'IssueServer', why: 'the server names changed' };
    if (Date.parse(cert.validTo) - now.getTime() < SERVER_RENEW_BEFORE_DAYS * 86_400_000) return { action: 'IssueServer', why: 'the server certificate nears its end' };
  } catch {
    return { action: 'IssueServer', why: 'the server certificate is not readable' };
  }
  return { action: 'Keep' };
}

/** The material after `decision`: kept, with a new server certificate, or all new. */
export function applyTlsDecision(cell: Cell, found: Partial<DatabaseTls> | undefined, decision: TlsDecision, now: Date): DatabaseTls {
  const hosts = databaseServerHosts(cell);
  if (decision.action === 'Keep') return found as DatabaseTls;
  const authority = decision.action === 'IssueAuthority' ? issueCertificateAuthority(`cell ${cellName(cell)} database CA`, now, CA_VALID_DAYS) : { cert: found!.ca!, key: found!.caKey! };
  const server = issueServerCertificate(authority, hosts, now, SERVER_VALID_DAYS);
  return { ca: authority.cert, caKey: authority.key, cert: server.cert, key: server.key };
}

function decode(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/**
 * The cell's TLS material: read from its Secret (by name), completed or renewed when `issue` (the
 * reconciler, which then applies the Secret), else as found (undefined when there is none yet).
 */
export async function readDatabaseTls(client: KubeClient, cell: Cell, options: { issue?: boolean; now?: Date } = {}): Promise<DatabaseTls | undefined> {
  let data: Record<string, string> | undefined;
  try {
    data = (await client.request<{ data?: Record<string, string> }>({ method: 'GET', path: resourcePath(builtin.secret, { namespace: cellNamespace(cell), name: databaseTlsSecretName(cell) }) })).data;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const found: Partial<DatabaseTls> | undefined = data && {
    ca: decode(data[DATABASE_TLS_KEYS.ca]),
    caKey: decode(data[DATABASE_TLS_KEYS.caKey]),
    cert: decode(data[DATABASE_TLS_KEYS.cert]),
    key: decode(data[DATABASE_TLS_KEYS.key]),
  };
  const now = options.now ?? new Date();
  const decision = decideTls(found, databaseServerHosts(cell), now);
  if (decision.action === 'Keep') return found as DatabaseTls;
  if (!options.issue) return found?.ca && found.cert ? (found as DatabaseTls) : undefined;
  return applyTlsDecision(cell, found, decision, now);
}
