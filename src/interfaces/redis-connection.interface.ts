/**
 * A Redis connection as BullMQ takes it: ioredis options (`{ host, port, … }`), a `redis://` URL,
 * or an ioredis instance. Kept structural so that the library does not require ioredis types.
 */
export type ConnectionOptions = string | { host?: string; port?: number; [key: string]: unknown } | object;
