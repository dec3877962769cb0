/**
 * Messages of `WorkQueue.enqueue(item, { transaction })` (the transactional outbox's writing side),
 * beside the queue that says them; the outbox's own (its options, its stores, its relay) are in
 * `outbox/outbox.messages.ts`.
 */

export const OUTBOX_NOT_CONFIGURED = (where: string) =>
  `${where}: option "transaction" writes the item to the transactional outbox, which is not configured: ` +
  `set HostingModule.forRoot({ outbox: { sqlite: db } }) or forRoot({ outbox: { postgres } })`;

export const OUTBOX_SIGNAL_WITH_TRANSACTION = (where: string) =>
  `${where}: option "signal" must be unset with "transaction" (the item is written to the outbox table in the transaction; nothing waits for room in the queue)`;

export const OUTBOX_KEY_WITHOUT_TRANSACTION = (where: string) =>
  `${where}: option "orderingKey" must be unset unless "transaction" is given (it orders outbox rows; a direct enqueue has none)`;

export const OUTBOX_MANY_WITH_TRANSACTION = (where: string, option: string) =>
  `${where}: option "${option}" must be unset: enqueueMany does not write to the outbox; call enqueue for each item inside the transaction`;

export const OUTBOX_ASYNC_INTERCEPTOR = (where: string) =>
  `${where}: an enqueue interceptor called next() after an await, but the outbox is on SQLite, whose transactions are synchronous: ` +
  `the row must be written before enqueue returns. Call next() synchronously in interceptEnqueue (the built-in tracing does)`;

export const OUTBOX_PAYLOAD_NOT_JSON = (where: string, problem: string, fix: string) =>
  `${where}: ${problem}. The outbox stores items as JSON, so it would not reach the worker as it was given; ${fix}`;
