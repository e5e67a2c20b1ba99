/**
 * Deadlines for tests, so a hang is a failure with a message instead of a CI run that never
 * ends: {@linkcode withDeadline} for one await, {@linkcode test} for a whole test body.
 */

/** How long a test body may run unless it says otherwise (generous: CI has 2 busy cores). */
export const DEFAULT_TEST_DEADLINE_MS = 60_000;

/** Run `body`; reject if it has not settled after `ms`. */
export async function withDeadline<T>(
  ms: number,
  body: () => Promise<T>,
  what = "test body",
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not finish within ${ms} ms (a hang?)`)),
      ms,
    );
  });
  try {
    return await Promise.race([body(), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** A test definition with an optional deadline (ms). */
export type DeadlineTest = Deno.TestDefinition & { deadlineMs?: number };

/**
 * `Deno.test` whose body fails when it runs longer than its deadline
 * ({@linkcode DEFAULT_TEST_DEADLINE_MS} unless `deadlineMs` is given).
 */
export function test(name: string, fn: (t: Deno.TestContext) => void | Promise<void>): void;
export function test(definition: DeadlineTest): void;
export function test(
  nameOrDefinition: string | DeadlineTest,
  maybeFn?: (t: Deno.TestContext) => void | Promise<void>,
): void {
  const definition: DeadlineTest = typeof nameOrDefinition === "string"
    ? { name: nameOrDefinition, fn: maybeFn! }
    : nameOrDefinition;
  const { deadlineMs = DEFAULT_TEST_DEADLINE_MS, fn, ...rest } = definition;
  Deno.test({
    ...rest,
    fn: (t) => withDeadline(deadlineMs, async () => await fn(t), `"${definition.name}"`),
  });
}
