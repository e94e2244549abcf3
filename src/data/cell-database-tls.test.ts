import { X509Certificate } from 'node:crypto';
import { EXAMPLE_CELL_SPEC, exampleCell } from '../controllers/cell/example-cell.js';
import { databaseServerHosts } from '../crds/cell-names.js';
import { FakeKubeClient } from '../../test/support/fake-kube-client.js';
import { applyTlsDecision, decideTls, readDatabaseTls, SERVER_RENEW_BEFORE_DAYS, SERVER_VALID_DAYS } from './cell-database-tls.js';

const DAY = 86_400_000;
const NOW = new Date('2026-12-02T10:00:00Z');
const cell = exampleCell();
const hosts = databaseServerHosts(cell);
const issued = applyTlsDecision(cell, undefined, { action: 'IssueAuthority', why: 'test' }, NOW);

describe('the in-cluster database\'s certificates', () => {
  it('names the coordinator Service, every worker pod (a wildcard) and the pod itself', () => {
    expect(hosts).toEqual([
      'eu-west-1a-db.cell-eu-west-1a.svc',
      'eu-west-1a-db.cell-eu-west-1a.svc.cluster.local',
      '*.eu-west-1a-db-worker.cell-eu-west-1a.svc',
      '*.eu-west-1a-db-worker.cell-eu-west-1a.svc.cluster.local',
      'localhost',
      '127.0.0.1',
    ]);
    const cert = new X509Certificate(issued.cert);
    expect(cert.checkHost('eu-west-1a-db-worker-7.eu-west-1a-db-worker.cell-eu-west-1a.svc')).toBeDefined();
    expect(cert.checkIssued(new X509Certificate(issued.ca))).toBe(true);
  });

  it('keeps what is valid, for the same names, far from its end', () => {
    expect(decideTls(issued, hosts, NOW)).toEqual({ action: 'Keep' });
    expect(decideTls(issued, hosts, new Date(NOW.getTime() + (SERVER_VALID_DAYS - SERVER_RENEW_BEFORE_DAYS - 1) * DAY))).toEqual({ action: 'Keep' });
  });

  it('issues the server certificate again near its end, for new names, or when it is not the CA\'s, keeping the CA', () => {
    const late = new Date(NOW.getTime() + (SERVER_VALID_DAYS - SERVER_RENEW_BEFORE_DAYS + 1) * DAY);
    expect(decideTls(issued, hosts, late)).toMatchObject({ action: 'IssueServer', why: 'the server certificate nears its end' });
    const moved = databaseServerHosts(exampleCell({ ...EXAMPLE_CELL_SPEC, namespace: 'team-a' }));
    expect(decideTls(issued, moved, NOW)).toMatchObject({ action: 'IssueServer', why: 'the server names changed' });
    const other = applyTlsDecision(cell, undefined, { action: 'IssueAuthority', why: 'test' }, NOW);
    expect(decideTls({ ...issued, cert: other.cert, key: other.key }, hosts, NOW)).toMatchObject({ action: 'IssueServer' });
    expect(decideTls({ ...issued, key: other.key }, hosts, NOW)).toMatchObject({ action: 'IssueServer' });
    expect(decideTls({ ...issued, cert: undefined }, hosts, NOW)).toMatchObject({ action: 'IssueServer' });
    const renewed = applyTlsDecision(cell, issued, { action: 'IssueServer', why: 'test' }, late);
    expect([renewed.ca, renewed.caKey]).toEqual([issued.ca, issued.caKey]);
    expect(decideTls(renewed, hosts, late)).toEqual({ action: 'Keep' });
  });

  it('makes a new CA only when there is none, or it is unusable', () => {
    const other = applyTlsDecision(cell, undefined, { action: 'IssueAuthority', why: 'test' }, NOW);
    expect(decideTls(undefined, hosts, NOW)).toMatchObject({ action: 'IssueAuthority', why: 'there is no CA yet' });
    expect(decideTls({ ...issued, caKey: other.caKey }, hosts, NOW)).toMatchObject({ action: 'IssueAuthority' });
    expect(decideTls({ ...issued, ca: 'garbage' }, hosts, NOW)).toMatchObject({ action: 'IssueAuthority', why: 'the CA is not readable' });
    expect(decideTls(issued, hosts, new Date(NOW.getTime() + 3651 * DAY))).toMatchObject({ action: 'IssueAuthority', why: 'the CA has expired' });
  });

  it('reads the Secret back by name, issues only when asked to, and never a second CA for a Secret that has one', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const missing = new FakeKubeClient(() => {
      throw Object.assign(new Error('not found'), { statusCode: 404 });
    });
    await expect(readDatabaseTls(missing, cell, { now: NOW })).resolves.toBeUndefined();
    const fresh = await readDatabaseTls(missing, cell, { issue: true, now: NOW });
    expect(fresh && decideTls(fresh, hosts, NOW)).toEqual({ action: 'Keep' });
    expect(missing.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /api/v1/namespaces/cell-eu-west-1a/secrets/eu-west-1a-db-tls',
      'GET /api/v1/namespaces/cell-eu-west-1a/secrets/eu-west-1a-db-tls',
    ]);
    const stored = new FakeKubeClient(() => ({ data: { 'ca.crt': b64(issued.ca), 'ca.key': b64(issued.caKey), 'tls.crt': b64(issued.cert), 'tls.key': b64(issued.key) } }));
    await expect(readDatabaseTls(stored, cell, { issue: true, now: NOW })).resolves.toEqual(issued);
    const late = new Date(NOW.getTime() + (SERVER_VALID_DAYS - 1) * DAY);
    const renewed = await readDatabaseTls(stored, cell, { issue: true, now: late });
    expect(renewed?.ca).toBe(issued.ca);
    expect(renewed?.cert).not.toBe(issued.cert);
    // Without issuing, the stored (still valid) material is used as it is.
    await expect(readDatabaseTls(stored, cell, { now: late })).resolves.toEqual(issued);
  });
});
