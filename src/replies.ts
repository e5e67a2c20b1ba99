/**
 * FTP reply formatting (RFC 959 §4.2).
 *
 * @module
 */

const encoder = new TextEncoder();

/** Replace characters that must never reach the control channel raw. */
export function sanitizeReplyText(text: string): string {
  return text.replace(/[\r\n\0]/g, " ");
}

/**
 * Format one reply. Text with several lines becomes an RFC 959 multi-line reply:
 * `code-first`, continuation lines, and `code last`. Continuation lines that
 * start with digits are indented with a space so clients cannot mistake them
 * for the last line.
 */
export function formatReply(code: number, text: string | readonly string[]): string {
  // A string may hold several lines; an array holds one line per element, so a
  // line break inside an element is a name's, never a reply line's.
  const lines = typeof text === "string"
    ? text.split("\n").map((line) => line.replace(/[\r\0]/g, " "))
    : text.map(sanitizeReplyText);
  if (lines.length === 1) return `${code} ${lines[0]}\r\n`;
  const last = lines.length - 1;
  let out = `${code}-${lines[0]}\r\n`;
  for (let i = 1; i < last; i++) {
    const line = lines[i];
    out += /^\d/.test(line) ? ` ${line}\r\n` : `${line}\r\n`;
  }
  out += `${code} ${lines[last]}\r\n`;
  return out;
}

/** {@linkcode formatReply} as UTF-8 bytes. */
export function encodeReply(code: number, text: string | readonly string[]): Uint8Array {
  return encoder.encode(formatReply(code, text));
}

/** Quote a path for 257 replies: `"` inside the name is doubled (RFC 959 appendix II). */
export function quotePath(path: string): string {
  return `"${sanitizeReplyText(path).replaceAll('"', '""')}"`;
}
