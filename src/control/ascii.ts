/**
 * ASCII-only case folding for protocol words (verbs, option names). `toUpperCase()`
 * follows Unicode, which turns `ſtor` into STOR and `ﬆat` into STAT; a verb is ASCII.
 *
 * @module
 */

/** Upper-case a–z only; every other character is left as it is. */
export function asciiUpperCase(text: string): string {
  return text.replace(/[a-z]+/g, (letters) => letters.toUpperCase());
}
