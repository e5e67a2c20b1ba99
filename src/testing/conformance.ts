/**
 * The storage connector conformance suite: every capability and edge case a
 * {@linkcode StorageConnector} must get right for the FTP server to behave —
 * the same suite the built-in `file`, `memory` and `s3` connectors pass.
 *
 * @module
 */

import type { StorageConnector } from "../storage/types.ts";
import { FILE_STEPS } from "./conformance/files.ts";
import { FOLDER_STEPS } from "./conformance/folders.ts";
import { FAILURE_STEPS } from "./conformance/failures.ts";
import { CONCURRENCY_STEPS } from "./conformance/concurrency.ts";
import { METADATA_STEPS } from "./conformance/metadata.ts";
import { QUOTA_STEPS } from "./conformance/quota.ts";
import { READER_STEPS } from "./conformance/reader.ts";
import { MIB, type SuiteSettings } from "./conformance/helpers.ts";

/** A fresh, empty connector for one step, and how to tidy up after it. */
export interface ConformanceSubject {
  /** The connector under test; its tree must start empty. */
  connector: StorageConnector;
  /** Release everything the connector used (temporary folders, prefixes, clients). */
  cleanup(): void | Promise<void>;
}

/** Makes a fresh {@linkcode ConformanceSubject}; called once per step. */
export type MakeConnector = () => Promise<ConformanceSubject>;

/** Options of {@linkcode runConformance} and {@linkcode testConformance}. */
export interface ConformanceOptions {
  /** Size of the large file streamed through write and read. @default {24 MiB} */
  largeFileBytes?: number;
  /** Entries in the folder listed in full. @default {150} */
  manyEntries?: number;
  /**
   * Whether the connector writes at an offset and appends. When false, such
   * writes must be refused with a `StorageError` and leave the file intact.
   * @default {true}
   */
  partialWrites?: boolean;
  /** Skip these steps, by exact name (say why in your test's name or comments). */
  skip?: string[];
  /** Passed to `Deno.test`: ignore the whole suite (e.g. a backend is missing). @default {false} */
  ignore?: boolean;
  /** Passed to `Deno.test`. @default {true} */
  sanitizeResources?: boolean;
  /** Passed to `Deno.test`. @default {true} */
  sanitizeOps?: boolean;
}

/** Every step, in order: the themes' steps one after the other. */
const STEPS = [
  ...FILE_STEPS,
  ...READER_STEPS,
  ...FOLDER_STEPS,
  ...FAILURE_STEPS,
  ...CONCURRENCY_STEPS,
  ...METADATA_STEPS,
  ...QUOTA_STEPS,
];

/**
 * Register one `Deno.test` named `name` whose steps run `makeConnector`'s
 * connector through the whole suite, each step on a fresh connector.
 *
 * @example
 * ```ts ignore
 * // my_connector_test.ts — run with `deno test -A`
 * import { runConformance } from "@exftp/server/testing";
 * import { MyStorage } from "./my_storage.ts";
 *
 * runConformance("MyStorage", async () => {
 *   const storage = new MyStorage({ root: await Deno.makeTempDir() });
 *   return { connector: storage, cleanup: () => storage.destroy() };
 * });
 * ```
 */
export function runConformance(
  name: string,
  makeConnector: MakeConnector,
  options: ConformanceOptions = {},
): void {
  Deno.test({
    name,
    ignore: options.ignore ?? false,
    sanitizeResources: options.sanitizeResources ?? true,
    sanitizeOps: options.sanitizeOps ?? true,
    fn: (t) => testConformance(t, makeConnector, options),
  });
}

/**
 * Run the suite as steps of an existing test — for connectors whose backend
 * the test itself starts and stops (a server process, a container).
 *
 * @example
 * ```ts ignore
 * import { testConformance } from "@exftp/server/testing";
 *
 * Deno.test("MyStorage against a real server", async (t) => {
 *   await using backend = await startBackend();
 *   await testConformance(t, async () => {
 *     const storage = backend.freshStorage();
 *     return { connector: storage, cleanup: () => {} };
 *   });
 * });
 * ```
 */
export async function testConformance(
  t: Deno.TestContext,
  makeConnector: MakeConnector,
  options: ConformanceOptions = {},
): Promise<void> {
  const settings: Required<SuiteSettings> = {
    largeFileBytes: options.largeFileBytes ?? 24 * MIB,
    manyEntries: options.manyEntries ?? 150,
    partialWrites: options.partialWrites ?? true,
  };
  const skip = new Set(options.skip ?? []);
  const unknown = [...skip].filter((name) => !STEPS.some((step) => step.name === name));
  if (unknown.length > 0) throw new RangeError(`Unknown conformance steps: ${unknown.join(", ")}`);
  for (const step of STEPS) {
    await t.step({
      name: step.name,
      ignore: skip.has(step.name),
      fn: async () => {
        const subject = await makeConnector();
        try {
          await step.run(subject.connector, settings);
        } finally {
          await subject.cleanup();
        }
      },
    });
  }
}

/** The names of every step, in order (for {@linkcode ConformanceOptions.skip}). */
export function conformanceStepNames(): string[] {
  return STEPS.map((step) => step.name);
}

// ---- helpers ----
