/** Records unhandled rejections during a test: none may escape from the Redis-backed parts. */
export function trackUnhandledRejections(): { rejections: unknown[]; dispose(): void } {
  const rejections: unknown[] = [];
  const listener = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', listener);
  return { rejections, dispose: () => process.off('unhandledRejection', listener) };
}
