/** The DI token of the `WorkQueue` named `name`. */
export const getQueueToken = (name: string): string => `hosting:queue:${name}`;
