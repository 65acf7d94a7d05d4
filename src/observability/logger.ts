/**
 * pino, created once in the CLI and injected. Paths that could carry secrets are
 * redacted as a second line of defence: the code never logs query strings,
 * cookies or authorization headers in the first place.
 */
import { pino, type DestinationStream, type Level, type Logger } from "pino";

export type { Logger };

export const REDACTED_PATHS = [
  "headers.authorization",
  "headers.cookie",
  "headers['sec-websocket-protocol']",
  "req.headers.authorization",
  "req.headers.cookie",
  "req.headers['sec-websocket-protocol']",
  "token",
  "*.token",
];

export function createLogger(level: Level | "silent", destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { name: "wsgate" },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
