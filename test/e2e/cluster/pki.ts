// The local control plane's certificates and keys, made with openssl: a CA, the API server's
// serving certificate (127.0.0.1, localhost and the in-cluster names), client certificates whose
// CN/O are the Kubernetes user and groups, and the service-account signing key pair.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { requireTool } from './tools.js';

const execFileAsync = promisify(execFile);

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  /** The request-header (front proxy) CA and the API server's client cert for aggregated APIs. */
  frontProxyCaCert: string;
  frontProxyClientCert: string;
  frontProxyClientKey: string;
}

export interface ClientCert {
  cert: string;
  key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync(requireTool('openssl'), args, { cwd });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(error)}`);
  }
}

// A config of our own, so that the system openssl.cnf (and its default extensions) plays no part.
const REQ_CONFIG = '[req]\ndistinguished_name = dn\n[dn]\n';

async function ecKey(file: string, cwd: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], cwd);
}

async function signed(
  dir: string,
  name: string,
  subject: string,
  extensions: string[],
  ca = 'ca',
): Promise<{ cert: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  const csr = path.join(dir, `${name}.csr`);
  const cnf = path.join(dir, `${name}.cnf`);
  writeFileSync(cnf, `${REQ_CONFIG}[ext]\n${extensions.join('\n')}\n`);
  await ecKey(key, dir);
  await openssl(['req', '-new', '-config', cnf, '-key', key, '-subj', subject, '-out', csr], dir);
  await openssl(
    ['x509', '-req', '-in', csr, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial', `0x${randomBytes(12).toString('hex')}`,
      '-days', '3650', '-extfile', cnf, '-extensions', 'ext', '-out', cert],
    dir,
  );
  return { cert, key };
}

const CLIENT_EXTENSIONS = [
  'basicConstraints = critical,CA:FALSE',
  'keyUsage = critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage = clientAuth',
];

async function selfSignedCa(dir: string, name: string, commonName: string): Promise<void> {
  const cnf = path.join(dir, `${name}.cnf`);
  writeFileSync(
    cnf,
    `${REQ_CONFIG}[ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier = hash\n`,
  );
  await ecKey(`${name}.key`, dir);
  await openssl(
    ['req', '-x509', '-new', '-config', cnf, '-extensions', 'ext', '-key', `${name}.key`, '-subj', `/CN=${commonName}`,
      '-days', '3650', '-out', `${name}.crt`],
    dir,
  );
}

/** Creates what is missing of the CA, the serving certificate and the service-account keys. */
export async function ensurePki(dir: string): Promise<Pki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki: Pki = {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    servingCert: path.join(dir, 'kube-apiserver.crt'),
    servingKey: path.join(dir, 'kube-apiserver.key'),
    serviceAccountKey: path.join(dir, 'service-account.key'),
    serviceAccountPub: path.join(dir, 'service-account.pub'),
    frontProxyCaCert: path.join(dir, 'front-proxy-ca.crt'),
    frontProxyClientCert: path.join(dir, 'front-proxy-client.crt'),
    frontProxyClientKey: path.join(dir, 'front-proxy-client.key'),
  };
  if (!existsSync(pki.caCert)) await selfSignedCa(dir, 'ca', 'cell-operator-local-ca');
  if (!existsSync(pki.frontProxyCaCert)) await selfSignedCa(dir, 'front-proxy-ca', 'cell-operator-local-front-proxy-ca');
  if (!existsSync(pki.frontProxyClientCert)) {
    await signed(dir, 'front-proxy-client', '/CN=front-proxy-client', CLIENT_EXTENSIONS, 'front-proxy-ca');
  }
  if (!existsSync(pki.servingCert)) {
    const names = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost'];
    await signed(dir, 'kube-apiserver', '/CN=kube-apiserver', [
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth',
      `subjectAltName = ${['IP:127.0.0.1', 'IP:10.96.0.1', ...names.map((n) => `DNS:${n}`)].join(',')}`,
    ]);
  }
  if (!existsSync(pki.serviceAccountKey)) {
    await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'service-account.key'], dir);
    await openssl(['pkey', '-in', 'service-account.key', '-pubout', '-out', 'service-account.pub'], dir);
  }
  return pki;
}

/** A client certificate for user `user` in `groups` (the O fields), signed by the local CA. */
export async function issueClientCert(pki: Pki, name: string, user: string, groups: string[] = []): Promise<ClientCert> {
  const existing = { cert: path.join(pki.dir, `${name}.crt`), key: path.join(pki.dir, `${name}.key`) };
  if (existsSync(existing.cert) && existsSync(existing.key)) return existing;
  const subject = [...groups.map((g) => `/O=${g}`), `/CN=${user}`].join('');
  return signed(pki.dir, name, subject, CLIENT_EXTENSIONS);
}

/** A self-contained kubeconfig (certificates embedded) for one user of the local cluster. */
export function writeKubeconfig(file: string, server: string, pki: Pki, client: ClientCert, user: string): void {
  const b64 = (f: string) => readFileSync(f).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'cell-operator-local', cluster: { server, 'certificate-authority-data': b64(pki.caCert) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(client.cert), 'client-key-data': b64(client.key) } }],
    contexts: [{ name: 'cell-operator-local', context: { cluster: 'cell-operator-local', user } }],
    'current-context': 'cell-operator-local',
  };
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, stringify(config), { mode: 0o600 });
}
