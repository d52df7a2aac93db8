import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout (or a given destination); the level comes from the CLI. */
export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Defence in depth: secrets must never reach a log line, even if a caller passes them by mistake.
      redact: {
        paths: ['password', 'key', 'value', 'proof', 'secret', '*.password', '*.key', '*.value', '*.proof', '*.secret'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
