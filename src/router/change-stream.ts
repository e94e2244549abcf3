// GET /v1/routes/changes?since=<version> — Server-Sent Events: first the cells (event `cells`),
// then every customer changed after `since` (event `route`, id = version, compacted to its latest
// state), then live changes as the index applies them. Reconnecting with Last-Event-ID (or a new
// `since`) resumes exactly where the client was. The backlog is written with backpressure; a client
// that cannot keep up (stream-limits.ts) is told why in a last `disconnect` event, its socket is
// closed (freeing what it did not read), and it resumes the same way.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteChange } from '../store/placements.js';
import type { RouteIndex } from './route-index.js';
import { drained } from './drained.js';
import type { RouterMetrics } from './router-metrics.js';
import { DEFAULT_STREAM_LIMITS, type DisconnectReason, type StreamLimits } from './stream-limits.js';

export interface ChangeStreamOptions {
  index: RouteIndex;
  metrics: RouterMetrics;
  heartbeatMs?: number;
  limits?: Partial<StreamLimits>;
  /** Ends the stream when aborted (server shutdown). */
  signal?: AbortSignal;
  /** Called once when the stream ends, whoever ended it (frees the client's slot). */
  onClose?: () => void;
}

const DISCONNECT_MESSAGES: Record<DisconnectReason, string> = {
  SlowClient: 'the client did not read its changes fast enough; reconnect with Last-Event-ID to resume',
  ShuttingDown: 'the router is shutting down; reconnect with Last-Event-ID to resume',
};

function routeEvent(c: RouteChange): string {
  const data = `{"customer":"${c.customerId}","cell":${c.cell === null ? 'null' : `"${c.cell}"`},"epoch":${c.epoch},"state":"${c.state}","version":${c.version}}`;
  return `id: ${c.version}\nevent: route\ndata: ${data}\n\n`;
}

function cellsEvent(index: RouteIndex): string {
  return `event: cells\ndata: ${JSON.stringify({ version: index.version, cells: index.cells() })}\n\n`;
}

export function streamChanges(req: IncomingMessage, res: ServerResponse, since: number | undefined, options: ChangeStreamOptions): void {
  const { index, metrics } = options;
  const limits = { ...DEFAULT_STREAM_LIMITS, ...options.limits };
  let sent = since ?? index.version;
  let cellsGeneration = index.cellsGeneration;
  let closed = false;
  let live = false;
  const queued: RouteChange[] = [];

  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  metrics.sseClients.inc();

  const cellsIfChanged = (): string => {
    if (cellsGeneration === index.cellsGeneration) return '';
    cellsGeneration = index.cellsGeneration;
    return cellsEvent(index);
  };
  const eventFor = (c: RouteChange): string => {
    if (c.version <= sent) return '';
    sent = c.version;
    return cellsIfChanged() + routeEvent(c);
  };
  const onChange = (c: RouteChange): void => {
    if (closed) return;
    if (!live) {
      queued.push(c);
      if (queued.length > limits.maxQueuedChanges) close('SlowClient');
      return;
    }
    const text = eventFor(c);
    if (text) res.write(text);
    if (res.writableLength > limits.maxBufferedBytes) close('SlowClient');
  };

  // The backlog scan and the subscription happen in the same tick: no change falls between them.
  const backlog = index.changedSlotsSince(sent);
  const backlogUpTo = index.version;
  const unsubscribe = index.subscribe(onChange);
  const heartbeat = setInterval(() => {
    if (!live || closed) return;
    res.write(`${cellsIfChanged()}: keep-alive\n\n`);
  }, options.heartbeatMs ?? 15_000);
  heartbeat.unref();

  function close(reason?: DisconnectReason): void {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    unsubscribe();
    queued.length = 0;
    options.signal?.removeEventListener('abort', shuttingDown);
    metrics.sseClients.dec();
    options.onClose?.();
    if (!reason) return void res.end();
    metrics.sseDisconnects.labels(reason).inc();
    const event = `event: disconnect\ndata: ${JSON.stringify({ reason, message: DISCONNECT_MESSAGES[reason] })}\n\n`;
    if (reason === 'SlowClient') {
      // Best effort: the socket is full. Destroying it frees what the client never read.
      res.write(event);
      res.destroy();
    } else res.end(event);
  }
  const shuttingDown = (): void => close('ShuttingDown');
  const gone = (): void => close();
  req.on('close', gone);
  res.on('close', gone);
  if (options.signal?.aborted) shuttingDown();
  options.signal?.addEventListener('abort', shuttingDown, { once: true });

  void (async () => {
    let chunk = `retry: 1000\n\n${cellsEvent(index)}`;
    const flush = async (): Promise<void> => {
      const ok = res.write(chunk);
      chunk = '';
      if (ok) return;
      // A client that stops reading during its backlog holds the router's memory: bounded in time.
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        drained(res).then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), limits.drainTimeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) close('SlowClient');
    };
    for (const slot of backlog) {
      if (closed) return;
      const change = index.changeAt(slot);
      // Changed again since the scan: that change is in `queued`, in its place in version order.
      if (change.version > backlogUpTo) continue;
      chunk += eventFor(change);
      if (chunk.length > 64 * 1024) await flush();
    }
    while (queued.length > 0 && !closed) {
      chunk += eventFor(queued.shift() as RouteChange);
      if (chunk.length > 64 * 1024) await flush();
    }
    if (closed) return;
    live = true;
    if (chunk) res.write(chunk);
  })();
}
