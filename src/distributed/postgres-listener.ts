import { reconnectDelayMs } from './redis-connection.js';

/** A notification as node-postgres hands it out. */
export interface PgNotification {
  channel: string;
  payload?: string;
}

/** The part of a node-postgres session (a `pg.Client`, or a client checked out of a `pg.Pool`) that LISTEN uses. */
export interface PgListenSession {
  query(text: string): Promise<unknown>;
  on(event: 'notification', listener: (message: PgNotification) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  removeAllListeners(event?: string): unknown;
}

/** What a `PostgresListener` needs. */
export interface PostgresListenerOptions {
  /** The channel to LISTEN on (a simple identifier). */
  channel: string;
  /** Opens a session of its own (a new `pg.Client`, or one checked out of the app's pool). */
  open(): Promise<PgListenSession>;
  /** Lets a session go for good (ends the client, or destroys the pool's). Called once per opened session. */
  close(session: PgListenSession): void;
  /** Each notification's payload on the channel (from any session, this process's included). */
  onNotification(payload: string): void;
  /** The session listens: notifications reach `onNotification` from now on. */
  onUp(): void;
  /** The session could not be opened, or was lost: notifications are not heard until `onUp`. */
  onDown(error: unknown): void;
}

/**
 * One session that LISTENs on one channel for as long as it lives, and opens a new one when its
 * session is lost (250 ms doubling to 5 s between attempts, for ever, as the Redis clients do).
 * PostgreSQL keeps no backlog for a channel: what is notified while no session listens is not heard.
 */
export class PostgresListener {
  private session?: PgListenSession;
  private ready = false;
  private closed = false;
  private attempt = 0;
  private timer?: NodeJS.Timeout;
  private heard!: () => void;
  /** Settles when a session first listens (it is retried for ever until then; not after `close`). */
  readonly listening = new Promise<void>((resolve) => (this.heard = resolve));

  constructor(private readonly options: PostgresListenerOptions) {
    if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(options.channel)) throw new TypeError(`PostgresListener: channel ${JSON.stringify(options.channel)} is not a simple identifier`);
  }

  /** True while a session listens. */
  get isReady(): boolean {
    return this.ready;
  }

  start(): void {
    if (this.closed || this.session || this.timer) return;
    void this.connect();
  }

  close(): void {
    this.closed = true;
    this.ready = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    const session = this.session;
    this.session = undefined;
    if (session) this.release(session);
  }

  private async connect(): Promise<void> {
    let session: PgListenSession | undefined;
    try {
      session = await this.options.open();
      if (this.closed) {
        this.release(session);
        return;
      }
      this.session = session;
      const lost = (error: unknown) => this.lost(session!, error);
      session.on('error', lost);
      session.on('end', () => lost(new Error('Connection terminated')));
      session.on('notification', (message) => {
        if (message.channel === this.options.channel && message.payload !== undefined) this.options.onNotification(message.payload);
      });
      await session.query(`LISTEN "${this.options.channel}"`);
      if (this.session !== session) return; // lost while it subscribed
      this.attempt = 0;
      this.ready = true;
      this.heard();
      this.options.onUp();
    } catch (error) {
      if (session) this.lost(session, error);
      else this.retry(error);
    }
  }

  private lost(session: PgListenSession, error: unknown): void {
    if (this.session !== session) return; // reported already
    this.session = undefined;
    this.ready = false;
    this.release(session);
    this.retry(error);
  }

  private retry(error: unknown): void {
    if (this.closed) return;
    this.options.onDown(error);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.closed) void this.connect();
    }, reconnectDelayMs(++this.attempt));
    this.timer.unref();
  }

  private release(session: PgListenSession): void {
    session.removeAllListeners('notification');
    // A dying session may still report an error: heard, and ignored.
    session.removeAllListeners('error');
    session.removeAllListeners('end');
    session.on('error', () => undefined);
    try {
      this.options.close(session);
    } catch {
      // a session that is gone already
    }
  }
}
