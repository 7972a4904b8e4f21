/**
 * The worker's logger: Celery's default worker format
 * (`[%(asctime)s: %(levelname)s/%(processName)s] %(message)s`), levels debug < info < warning < error
 * < critical, written to stderr like Celery's. Replace it with any object of the same shape.
 */
export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'critical';

export const LOG_LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 };

export interface WorkerLogger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  critical(message: string): void;
  /** Whether `level` is written; optional (when absent, messages are always built). */
  isEnabledFor?(level: LogLevel): boolean;
}

/** `warn` → `warning`, `fatal` → `critical`, case-insensitive; throws on an unknown name. */
export function parseLogLevel(name: string): LogLevel {
  const n = name.toLowerCase();
  if (n === 'warn') return 'warning';
  if (n === 'fatal') return 'critical';
  if (n in LOG_LEVELS) return n as LogLevel;
  throw new Error(`unknown log level ${JSON.stringify(name)}: use debug, info, warning, error or critical`);
}

function asctime(d = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())},${p(d.getMilliseconds(), 3)}`;
}

/** A Celery-formatted logger writing lines at or above `level` to `write` (default stderr). */
export function createLogger(level: LogLevel = 'warning', write: (line: string) => void = (l) => process.stderr.write(l + '\n')): WorkerLogger {
  const min = LOG_LEVELS[level];
  const at = (lvl: LogLevel) => (message: string) => {
    if (LOG_LEVELS[lvl] >= min) write(`[${asctime()}: ${lvl.toUpperCase()}/MainProcess] ${message}`);
  };
  return {
    debug: at('debug'), info: at('info'), warning: at('warning'), error: at('error'), critical: at('critical'),
    isEnabledFor: (lvl) => LOG_LEVELS[lvl] >= min,
  };
}

/** Whether a message at `level` would be written: lets the per-task lines skip building reprs for nothing. */
export function logs(logger: WorkerLogger, level: LogLevel): boolean {
  return logger.isEnabledFor?.(level) ?? true;
}

/** A logger that drops everything. */
export const silentLogger: WorkerLogger = { debug() {}, info() {}, warning() {}, error() {}, critical() {}, isEnabledFor: () => false };
