import type { LoggerService } from '@nestjs/common';

export interface LogEntry {
  level: 'log' | 'error' | 'warn' | 'debug' | 'verbose' | 'fatal';
  message: string;
  /** Stack or context arguments, joined. */
  details: string;
}

/** A Nest logger that records what it is given, so tests can assert on log lines. */
export class CaptureLogger implements LoggerService {
  readonly entries: LogEntry[] = [];

  log(message: unknown, ...rest: unknown[]) { this.add('log', message, rest); }
  error(message: unknown, ...rest: unknown[]) { this.add('error', message, rest); }
  warn(message: unknown, ...rest: unknown[]) { this.add('warn', message, rest); }
  debug(message: unknown, ...rest: unknown[]) { this.add('debug', message, rest); }
  verbose(message: unknown, ...rest: unknown[]) { this.add('verbose', message, rest); }
  fatal(message: unknown, ...rest: unknown[]) { this.add('fatal', message, rest); }

  /** Entries at `level` whose message contains `text`. */
  find(level: LogEntry['level'], text: string): LogEntry[] {
    return this.entries.filter((e) => e.level === level && e.message.includes(text));
  }

  errors(): LogEntry[] {
    return this.entries.filter((e) => e.level === 'error' || e.level === 'fatal');
  }

  private add(level: LogEntry['level'], message: unknown, rest: unknown[]) {
    this.entries.push({ level, message: String(message), details: rest.map(String).join('\n') });
  }
}
