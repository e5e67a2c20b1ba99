/**
 * Conformance steps on concurrency: simultaneous writers each leave a whole
 * file.
 *
 * @module
 */

import { check, MIB, randomBytes, readBytes, sameBytes, type Step, streamOf } from "./helpers.ts";

/** The steps, in suite order. */
export const CONCURRENCY_STEPS: Step[] = [
  {
    name: "concurrent writers each store whole files",
    async run(c) {
      const datas = Array.from({ length: 6 }, (_, i) => randomBytes(MIB + i * 7919));
      await Promise.all(datas.map((data, i) => c.write(`/w${i}.bin`, streamOf(data, 50_000))));
      for (const [i, data] of datas.entries()) {
        sameBytes(await readBytes(c, `/w${i}.bin`), data, `concurrent file ${i}`);
      }
    },
  },
  {
    name: "two writers to one file leave one of the two whole",
    async run(c) {
      const one = randomBytes(MIB);
      const two = randomBytes(MIB + 1);
      await Promise.all([c.write("/same.bin", streamOf(one)), c.write("/same.bin", streamOf(two))]);
      const result = await readBytes(c, "/same.bin");
      check(
        result.length === one.length || result.length === two.length,
        "two writers to one file: the result is one of them",
      );
      sameBytes(result, result.length === one.length ? one : two, "two writers to one file");
    },
  },
];
