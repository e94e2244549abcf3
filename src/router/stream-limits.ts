// Bounds that keep hostile or careless change-stream clients from exhausting a router: how many
// streams are open at once, and how far behind one client may fall (bytes unsent, changes queued
// while its backlog is written, time its socket may refuse to drain) before it is disconnected
// with a reason. Also the HTTP server's header, request and idle timeouts.

export interface StreamLimits {
  /** Open change streams at once; more answer 503 TooManyStreams. */
  maxClients: number;
  /** Unsent bytes a live client may have; beyond, it is disconnected (SlowClient). */
  maxBufferedBytes: number;
  /** Changes queued for a client whose backlog is still being written; beyond, SlowClient. */
  maxQueuedChanges: number;
  /** How long a client's socket may refuse more data while its backlog is written; then SlowClient. */
  drainTimeoutMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxClients: 2000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxQueuedChanges: 50_000,
  drainTimeoutMs: 30_000,
};

export interface ServerTimeouts {
  /** A client must send its request headers within this (slowloris). */
  headersTimeoutMs: number;
  /** A whole request body must arrive within this (a batch upload is one request). */
  requestTimeoutMs: number;
  /** A socket with no traffic either way is closed after this; change streams send a heartbeat more often. */
  idleTimeoutMs: number;
  /** Between requests on a kept-alive connection. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_SERVER_TIMEOUTS: ServerTimeouts = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 120_000,
  keepAliveTimeoutMs: 65_000,
};

/** Why a change stream was ended by the router. */
export type DisconnectReason = 'SlowClient' | 'ShuttingDown';

/** A counter of open streams with a ceiling. */
export class StreamSlots {
  private open = 0;
  constructor(readonly max: number) {}

  /** A release function when a slot is free (call it exactly once), or undefined when all are taken. */
  tryAcquire(): (() => void) | undefined {
    if (this.open >= this.max) return undefined;
    this.open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
    };
  }

  get inUse(): number {
    return this.open;
  }
}
