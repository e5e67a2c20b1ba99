/**
 * The rules of the `proxy_protocol` and `passive_address` settings (CIDR
 * lists, per-network rules), for the settings table's validation: a message
 * that follows the key's name, or `undefined` when the value is fine.
 *
 * @module
 */

import { parseCidr } from "./cidr.ts";

function rangesProblem(ranges: unknown, where: string): string | undefined {
  if (!Array.isArray(ranges) || ranges.length === 0) {
    return `${where} must be a non-empty list of CIDR ranges, got ${JSON.stringify(ranges)}`;
  }
  for (const range of ranges) {
    try {
      if (typeof range !== "string") throw new TypeError("not a string");
      parseCidr(range);
    } catch {
      return `${where} has an entry that is not an IP address or CIDR range: ${
        JSON.stringify(range)
      }`;
    }
  }
  return undefined;
}

/** What is wrong with a list of `{ networks?, address }` rules for `passive_address`, if anything. */
export function passiveRulesProblem(value: unknown): string | undefined {
  const shape = "must be an address, `connected`, or a list of { networks: [CIDR], address }";
  if (!Array.isArray(value) || value.length === 0) return `${shape}, got ${JSON.stringify(value)}`;
  for (const [index, rule] of value.entries()) {
    if (typeof rule !== "object" || rule === null || Array.isArray(rule)) {
      return `${shape}, got ${JSON.stringify(rule)} at entry ${index + 1}`;
    }
    const unknown = Object.keys(rule).find((key) => key !== "networks" && key !== "address");
    if (unknown) return `entry ${index + 1} has an unknown key "${unknown}"`;
    const { networks, address } = rule as Record<string, unknown>;
    if (typeof address !== "string" || address.trim() === "") {
      return `entry ${index + 1} needs an address, got ${JSON.stringify(address)}`;
    }
    if (networks !== undefined) {
      const problem = rangesProblem(networks, `entry ${index + 1}'s networks`);
      if (problem) return problem;
    }
  }
  return undefined;
}

/**
 * What is wrong with a `proxy_protocol` value, `{ from: [CIDR, …] }` (and, from
 * code, `headerTimeoutMs` up to `maxDelayMs`), if anything.
 */
export function proxyProtocolProblem(value: unknown, maxDelayMs: number): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return `must be a mapping like { from: [10.0.0.0/8] }, got ${JSON.stringify(value)}`;
  }
  const unknown = Object.keys(value).find((key) => key !== "from" && key !== "headerTimeoutMs");
  if (unknown) return `has an unknown key "${unknown}" (known: from)`;
  const { from, headerTimeoutMs } = value as Record<string, unknown>;
  if (
    headerTimeoutMs !== undefined &&
    (typeof headerTimeoutMs !== "number" || !(headerTimeoutMs > 0) ||
      headerTimeoutMs > maxDelayMs)
  ) {
    return `headerTimeoutMs must be a number above 0, got ${JSON.stringify(headerTimeoutMs)}`;
  }
  return rangesProblem(from, "from");
}
