/**
 * How a transfer's data connection is made. (The "data" branch of issue 11
 * fills this module with the code that opens and secures it; on this branch
 * it holds only the type the command handlers set.)
 *
 * @module
 */

import type { DataListener } from "./passive.ts";

/** How the next transfer's data connection is made (PASV/EPSV or PORT/EPRT). */
export type DataSetup =
  | { readonly kind: "passive"; readonly listener: DataListener }
  | { readonly kind: "active"; readonly hostname: string; readonly port: number };
