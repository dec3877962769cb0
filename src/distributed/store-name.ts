/** A store the instances share (exclusive periodic tasks, BullMQ queues), as messages name it. */
export type StoreName = 'Redis' | 'PostgreSQL';
