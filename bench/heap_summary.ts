/**
 * What grew between two V8 heap snapshots, per constructor: count and self
 * size, divided by how many sessions were added (the snapshots
 * `bench/idle_probe.ts --snapshot` writes at two session counts).
 *
 * ```sh
 * deno run -A bench/heap_summary.ts /tmp/idle-1000.heapsnapshot /tmp/idle-10000.heapsnapshot 9000
 * ```
 *
 * @module
 */

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** (type:name) → [count, self bytes]. */
function summarise(file: string): Map<string, [number, number]> {
  const data = JSON.parse(Deno.readTextFileSync(file)) as Snapshot;
  const fields = data.snapshot.meta.node_fields;
  const types = data.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const totals = new Map<string, [number, number]>();
  for (let i = 0; i < data.nodes.length; i += width) {
    const type = types[data.nodes[i + typeAt]];
    let name = data.strings[data.nodes[i + nameAt]];
    if (type === "string" || type === "concatenated string" || type === "sliced string") {
      name = name.length > 40 ? name.slice(0, 40) + "…" : name;
    }
    const key = `${type}:${name}`;
    const entry = totals.get(key) ?? [0, 0];
    entry[0]++;
    entry[1] += data.nodes[i + sizeAt];
    totals.set(key, entry);
  }
  return totals;
}

const [fromFile, toFile, sessionsText] = Deno.args;
const sessions = Number(sessionsText);
const from = summarise(fromFile);
const to = summarise(toFile);
const rows: { key: string; count: number; bytes: number }[] = [];
for (const [key, [count, bytes]] of to) {
  const [c0, b0] = from.get(key) ?? [0, 0];
  rows.push({ key, count: (count - c0) / sessions, bytes: (bytes - b0) / sessions });
}
rows.sort((a, b) => b.bytes - a.bytes);
let total = 0;
for (const row of rows) total += row.bytes;
console.log(`total self size per session: ${total.toFixed(0)} B`);
for (const row of rows.slice(0, Number(Deno.env.get("TOP") ?? 60))) {
  if (Math.abs(row.bytes) < 4) break;
  console.log(
    `${row.bytes.toFixed(0).padStart(6)} B  ${row.count.toFixed(2).padStart(6)}×  ${row.key}`,
  );
}
