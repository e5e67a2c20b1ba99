/**
 * The command table: every verb the server understands, the single source of
 * truth for dispatch, HELP and FEAT.
 *
 * @module
 */

import { authCommands } from "./auth.ts";
import { dataSetupCommands } from "./data_setup.ts";
import { fileCommands } from "./files.ts";
import { hashCommands } from "./hash.ts";
import { infoCommands } from "./info.ts";
import { listingCommands } from "./listing.ts";
import { machineListingCommands } from "./machine_listing.ts";
import { navigationCommands } from "./navigation.ts";
import { quotaCommands } from "./quota.ts";
import { siteCommands } from "./site.ts";
import { tlsCommands } from "./tls.ts";
import { transferCommands } from "./transfer.ts";
import type { CommandSpec } from "./context.ts";

/** RFC 775 X-commands that are plain aliases. */
const ALIASES: Record<string, string> = {
  XPWD: "PWD",
  XCWD: "CWD",
  XCUP: "CDUP",
  XMKD: "MKD",
  XRMD: "RMD",
};

/** Build the verb → command map. */
export function buildCommandTable(): Map<string, CommandSpec> {
  const table = new Map<string, CommandSpec>(
    Object.entries({
      ...authCommands,
      ...infoCommands,
      ...navigationCommands,
      ...fileCommands,
      ...dataSetupCommands,
      ...transferCommands,
      ...listingCommands,
      ...machineListingCommands,
      ...siteCommands,
      ...quotaCommands,
      ...tlsCommands,
      ...hashCommands,
    }),
  );
  for (const [alias, verb] of Object.entries(ALIASES)) table.set(alias, table.get(verb)!);
  return table;
}
