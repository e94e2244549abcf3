// Keeps a RouteClient's cache in step with the router's change stream (GET /v1/routes/changes,
// Server-Sent Events, docs/router.md): every `route` event drops the customer's cached route, so
// the next message of a moved customer asks the router and goes to its new cell at once; a `cells`
// event drops the routes to a cell whose Kafka address changed. While the stream is live the client
// reuses routes for long (RouteClientOptions.followedTtlMs); when it is not (the router down, a
// stream refused, a stall), the client falls back to its short TTL. The follower reconnects with
// backoff and resumes with Last-Event-ID, so no change is missed across a reconnect. Bounded: an
// event larger than maxEventBytes or a stream silent for idleTimeoutMs is dropped and reconnected.
import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../log.js';
import type { RouteChangeEvent, RouteClient } from './route-client.js';

export interface RouteFollowerOptions {
  /** The router's base URL (as RouteClientOptions.url). */
  url: string;
  client: Pick<RouteClient, 'changed' | 'cellsChanged' | 'setFollowing'>;
  log: Logger;
  /** First and largest wait before reconnecting. Defaults 250 ms and 5 s. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** A stream silent this long is taken for dead (the router sends a heartbeat every 15 s). Default 45 s. */
  idleTimeoutMs?: number;
  /** An event larger than this ends the connection (it resumes after the last event). Default 1 MiB. */
  maxEventBytes?: number;
}

export interface RouteFollower {
  /** Whether the stream is live now, reconnections so far, route events applied. */
  stats(): { live: boolean; connects: number; events: number };
  stop(): void;
}

interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Splits a Server-Sent Events text into whole events; returns them and the unfinished rest. */
export function parseSse(text: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n\n', start);
    if (end < 0) break;
    const e: SseEvent = { data: '' };
    for (const line of text.slice(start, end).split('\n')) {
      if (line.startsWith(':')) continue; // a comment (heartbeat)
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') e.id = value;
      else if (field === 'event') e.event = value;
      else if (field === 'data') e.data = e.data ? `${e.data}\n${value}` : value;
    }
    if (e.event !== undefined || e.data !== '') events.push(e);
    start = end + 2;
  }
  return { events, rest: text.slice(start) };
}

export function followRouteChanges(options: RouteFollowerOptions): RouteFollower {
  const { client, log } = options;
  const minMs = options.reconnectMinMs ?? 250;
  const maxMs = options.reconnectMaxMs ?? 5_000;
  const idleMs = options.idleTimeoutMs ?? 45_000;
  const maxEventBytes = options.maxEventBytes ?? 1024 * 1024;
  const base = new URL(options.url);
  const url = new URL('v1/routes/changes', base.href.endsWith('/') ? base : `${base.href}/`);
  const get = url.protocol === 'https:' ? https.get : http.get;
  let stopped = false;
  let live = false;
  let connects = 0;
  let events = 0;
  let waitMs = minMs;
  /** The last version seen: a reconnect resumes after it. */
  let cursor: number | undefined;
  let request: http.ClientRequest | undefined;
  let timer: NodeJS.Timeout | undefined;

  const setLive = (value: boolean) => {
    if (live === value) return;
    live = value;
    client.setFollowing(value);
    log.info({ router: base.origin }, value ? 'following the router\'s change stream: cached routes follow every change' : 'the router\'s change stream is down: cached routes live for their TTL');
  };

  const reconnectLater = (why: string) => {
    setLive(false);
    request = undefined;
    if (stopped || timer) return;
    log.debug({ why, inMs: waitMs }, 'reconnecting to the change stream');
    timer = setTimeout(() => {
      timer = undefined;
      connect();
    }, waitMs);
    waitMs = Math.min(maxMs, waitMs * 2);
  };

  const apply = (e: SseEvent): void => {
    if (e.event === 'cells') {
      const body = JSON.parse(e.data) as { version?: number; cells?: { name: string; endpoints?: Record<string, string> }[] };
      client.cellsChanged(body.cells ?? []);
      // The first event of a stream: the stream is live from this version on.
      if (cursor === undefined && typeof body.version === 'number') cursor = body.version;
      setLive(true);
      waitMs = minMs;
    } else if (e.event === 'route') {
      const change = JSON.parse(e.data) as RouteChangeEvent;
      client.changed(change);
      events++;
      if (typeof change.version === 'number') cursor = Math.max(cursor ?? 0, change.version);
    }
    // `disconnect` (the router tells why it ends the stream) needs nothing: the close reconnects.
  };

  function connect(): void {
    if (stopped) return;
    connects++;
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (cursor !== undefined) headers['last-event-id'] = String(cursor);
    // One reconnect per connection, whichever of its events says it is lost first.
    let lost = false;
    const reconnect = (why: string) => {
      if (lost) return;
      lost = true;
      reconnectLater(why);
    };
    const req = get(url, { headers, timeout: idleMs }, (res) => {
      if (res.statusCode !== 200 || !String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        res.resume();
        reconnect(`the router answered ${res.statusCode} ${res.headers['content-type'] ?? ''}`);
        return;
      }
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        const { events: parsed, rest } = parseSse(buffer);
        buffer = rest;
        try {
          for (const e of parsed) apply(e);
        } catch (err) {
          req.destroy(new Error(`an event that is not JSON: ${(err as Error).message}`));
          return;
        }
        if (buffer.length > maxEventBytes) req.destroy(new Error(`an event larger than ${maxEventBytes} bytes`));
      });
      res.on('end', () => reconnect('the stream ended'));
      res.on('error', (err) => reconnect(err.message));
    });
    req.on('timeout', () => req.destroy(new Error(`the stream was silent for ${idleMs} ms`)));
    req.on('error', (err) => reconnect(err.message));
    request = req;
  }

  connect();
  return {
    stats: () => ({ live, connects, events }),
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      request?.destroy();
      request = undefined;
      setLive(false);
    },
  };
}
