/**
 * Logging: one line per session event and per transfer. Passwords never
 * reach a logger.
 *
 * @module
 */

/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Receives log lines; `fields` carries structured details (session id, user, bytes…). */
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** Human-readable lines on stderr: `2026-11-28T12:00:00.000Z INFO message key=value`. */
export function consoleLogger(minLevel: LogLevel = "info"): Logger {
  const order: LogLevel[] = ["debug", "info", "warn", "error"];
  const threshold = order.indexOf(minLevel);
  return (level, message, fields) => {
    if (order.indexOf(level) < threshold) return;
    let line = `${new Date().toISOString()} ${level.toUpperCase()} ${message}`;
    for (const [key, value] of Object.entries(fields ?? {})) {
      if (value === undefined) continue;
      line += ` ${key}=${
        typeof value === "string" && !/\s/.test(value) ? value : JSON.stringify(value)
      }`;
    }
    console.error(line);
  };
}

/** JSON lines on stderr. */
export function jsonLogger(minLevel: LogLevel = "info"): Logger {
  const order: LogLevel[] = ["debug", "info", "warn", "error"];
  const threshold = order.indexOf(minLevel);
  return (level, message, fields) => {
    if (order.indexOf(level) < threshold) return;
    console.error(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }));
  };
}

/** Discards everything (tests, embedding apps with their own logging). */
export const silentLogger: Logger = () => {};
