/** What the emails queue carries: just the key; the worker reads the rest from the database. */
export interface EmailJob {
  orderId: number;
}

/** The name of the queue of confirmation emails. */
export const EMAILS_QUEUE = 'emails';
