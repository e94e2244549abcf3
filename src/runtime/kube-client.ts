// Raw JSON requests to the API server through client-node's own HTTP stack (auth, TLS and proxies
// from the KubeConfig). Objects come back exactly as the server sent them — the same plain JSON as
// the watch stream, nothing dropped by client-node's model classes, timestamps as strings — and
// any path, subresource and patch content-type can be used.
import { HttpMethod, IsomorphicFetchHttpLibrary, PatchStrategy, RequestContext } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import https from 'node:https';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Defaults to application/json when there is a body; patches must name their kind. */
  contentType?: string;
  timeoutMs?: number;
}

export interface KubeClient {
  request<T = unknown>(req: KubeRequest): Promise<T>;
}

export const ContentType = {
  json: 'application/json',
  jsonPatch: PatchStrategy.JsonPatch,
  mergePatch: PatchStrategy.MergePatch,
  apply: PatchStrategy.ServerSideApply,
} as const;

/** A non-2xx answer; `code` is named as in client-node's ApiException so one check fits both. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** The HTTP status of an error from this client, from client-node's typed APIs or from its Watch. */
export function statusCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, statusCode: status } = err as { code?: unknown; statusCode?: unknown };
  if (typeof code === 'number') return code;
  return typeof status === 'number' ? status : undefined;
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
export const isGone = (err: unknown): boolean => statusCode(err) === 410;

/**
 * A client for `kc`'s current cluster. `userAgent` names the caller in the API server's audit log
 * (for example `cell-operator/0.1.0 (replica-a)`), so a person can tell replicas apart.
 */
export function createKubeClient(kc: KubeConfig, defaults: { timeoutMs?: number; userAgent?: string } = {}): KubeClient {
  const http = new IsomorphicFetchHttpLibrary();
  const keepAlive = new KeepAliveAgents();
  return {
    async request<T>(req: KubeRequest): Promise<T> {
      const cluster = kc.getCurrentCluster();
      if (!cluster) throw new Error('the kubeconfig has no current cluster');
      const ctx = new RequestContext(cluster.server + req.path, HttpMethod[req.method]);
      for (const [name, value] of Object.entries(req.query ?? {})) {
        if (value !== undefined) ctx.setQueryParam(name, String(value));
      }
      ctx.setHeaderParam('Accept', 'application/json');
      if (defaults.userAgent) ctx.setHeaderParam('User-Agent', defaults.userAgent);
      if (req.body !== undefined) {
        ctx.setHeaderParam('Content-Type', req.contentType ?? ContentType.json);
        ctx.setBody(JSON.stringify(req.body));
      }
      // Without a deadline a request to a vanished API server could hang forever.
      // AbortSignal.timeout throws on a fraction (a 5 s lease's renew deadline / 2 is 1666.5 ms).
      ctx.setSignal(AbortSignal.timeout(Math.ceil(req.timeoutMs ?? defaults.timeoutMs ?? 30_000)));
      await kc.applySecurityAuthentication(ctx);
      const agent = ctx.getAgent();
      if (agent) ctx.setAgent(keepAlive.reuse(agent));
      const res = await http.send(ctx).toPromise();
      const text = await res.body.text();
      const data = parseJson(text);
      if (res.httpStatusCode >= 200 && res.httpStatusCode < 300) return data as T;
      throw toApiError(req, res.httpStatusCode, data ?? text);
    },
  };
}

/**
 * client-node gives every request a new https.Agent without keep-alive: a TCP connection and a TLS
 * handshake per request, which made applying a cell's children several times slower than kubectl.
 * This keeps one keep-alive agent per set of TLS options (they change only if the kubeconfig's
 * certificates do) and leaves any other agent (a proxy) alone.
 */
export class KeepAliveAgents {
  private readonly agents = new Map<string, https.Agent>();

  reuse<A>(agent: A): A {
    if (!(agent instanceof https.Agent) || agent.constructor !== https.Agent) return agent;
    const options = (agent as https.Agent & { options: https.AgentOptions }).options;
    const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername } = options;
    const id = createHash('sha256')
      .update(JSON.stringify([ca, cert, key, pfx, passphrase, rejectUnauthorized, servername].map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : v))))
      .digest('hex');
    let shared = this.agents.get(id);
    if (!shared) {
      shared = new https.Agent({ ...options, keepAlive: true });
      this.agents.set(id, shared);
    }
    return shared as A;
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

function toApiError(req: KubeRequest, code: number, body: unknown): KubeApiError {
  const status = typeof body === 'object' && body !== null ? (body as { reason?: string; message?: string }) : {};
  const detail = status.message ?? (typeof body === 'string' ? body.slice(0, 200) : '');
  return new KubeApiError(code, status.reason ?? '', `${req.method} ${req.path}: ${code} ${status.reason ?? ''} ${detail}`.trim(), body);
}
