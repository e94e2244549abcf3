// A pg Client that negotiates TLS the way libpq does for `allow` and `prefer`: a first attempt
// (plain for allow, TLS for prefer) and, when the server turns it down, a second one the other
// way on a new socket. node-postgres alone knows only "TLS or not"; this adds the second attempt.
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';

/** What one connection attempt uses: false is plain text. */
export type SslAttempt = false | ConnectionOptions;

export interface LibpqClientConfig extends pg.ClientConfig {
  /** The second attempt after the server refused the first (`ssl`); undefined: one attempt only. */
  sslFallback?: SslAttempt;
}

/**
 * Whether libpq would make its second attempt after this failure: the server answered (an
 * ErrorResponse during startup such as pg_hba's "no encryption", or "no TLS here"), or the TLS
 * handshake failed. A server that does not answer at all gets no second attempt.
 */
export function fallbackWorthy(err: unknown): boolean {
  const e = typeof err === 'object' && err !== null ? (err as { severity?: unknown; message?: unknown; code?: unknown; library?: unknown }) : {};
  if (typeof e.severity === 'string') return true;
  const message = typeof e.message === 'string' ? e.message : '';
  if (/does not support SSL connections|error establishing an SSL connection/i.test(message)) return true;
  return typeof e.library === 'string' || (typeof e.code === 'string' && /^ERR_SSL_|^ERR_TLS_/.test(e.code));
}

/** The parts of pg.Client a second attempt resets (pg 8's own fields; connection-tls.test.ts covers them). */
interface ClientInternals extends Omit<pg.Client, 'ssl'> {
  _connect(callback: (err?: Error) => void): void;
  _connecting: boolean;
  _connected: boolean;
  _connectionError: boolean;
  _ending: boolean;
  _ended: boolean;
  _queryable: boolean;
  ssl: SslAttempt;
  connection: pg.Connection;
}

export class LibpqClient extends pg.Client {
  private readonly sslFallback: SslAttempt | undefined;
  private readonly keepAliveOptions: Pick<pg.ClientConfig, 'keepAlive' | 'keepAliveInitialDelayMillis'>;
  /** The 'end' of a refused first attempt is not the end of this client. */
  private swallowEnd = 0;

  constructor(config: LibpqClientConfig = {}) {
    const { sslFallback, ...rest } = config;
    super(rest);
    this.sslFallback = sslFallback;
    this.keepAliveOptions = { keepAlive: rest.keepAlive ?? false, keepAliveInitialDelayMillis: rest.keepAliveInitialDelayMillis ?? 0 };
    const self = this as Omit<pg.Client, 'ssl'> as ClientInternals;
    const connectOnce = self._connect.bind(this);
    self._connect = (callback) => {
      if (this.sslFallback === undefined) return connectOnce(callback);
      connectOnce((err) => {
        if (!err || self._ending || !fallbackWorthy(err)) return callback(err);
        this.secondAttempt(self, () => connectOnce(callback));
      });
    };
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'end' && this.swallowEnd > 0) {
      this.swallowEnd--;
      return false;
    }
    return super.emit(event, ...args);
  }

  /** Once the refused socket has closed, the same client connects again with the other choice. */
  private secondAttempt(self: ClientInternals, connect: () => void): void {
    const ssl = this.sslFallback as SslAttempt;
    const again = (): void => {
      // The first attempt's 'end' was emitted on this client on the previous tick, or is about to be.
      process.nextTick(() => {
        self.ssl = ssl;
        self.connection = new pg.Connection({ ssl, ...this.keepAliveOptions } as pg.ConnectionConfig);
        self._connecting = false;
        self._connected = false;
        self._connectionError = false;
        self._ended = false;
        self._queryable = true;
        connect();
      });
    };
    // Set before the first socket's 'end' arrives: its client-level 'end' is swallowed once.
    this.swallowEnd++;
    if (self._ended) again();
    else self.connection.once('end', again);
  }
}
