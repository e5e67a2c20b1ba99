/**
 * Finds the shell commands the documentation shows: fenced `sh`/`bash`
 * blocks of README.md, the indented command lines in the header comment of
 * each `examples/*.ts`, and the indented `#   ` lines at the top of each
 * `examples/*.yaml`.
 *
 * @module
 */

/** One command as a reader would type it. */
export interface DocCommand {
  /** `README.md:12`, `examples/embed.ts:4`. */
  where: string;
  /** The file it comes from. */
  file: string;
  /** Commands of one block (or one header) share a group: a server and its clients. */
  group: string;
  /** The command, continuation lines joined, a trailing `# comment` removed. */
  text: string;
}

/** Drop a trailing ` # comment` that is outside quotes. */
export function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') {
      quote = char;
    } else if (char === "#" && (i === 0 || /\s/.test(line[i - 1]))) {
      return line.slice(0, i).trimEnd();
    }
  }
  return line.trimEnd();
}

/** Join `\`-continued lines into commands; skip blank and comment lines. */
function commandsOf(lines: { text: string; line: number }[]) {
  const out: { text: string; line: number }[] = [];
  let pending: { text: string; line: number } | undefined;
  for (const { text, line } of lines) {
    const stripped = stripComment(text).trim();
    if (!pending && stripped === "") continue;
    if (stripped.endsWith("\\")) {
      const part = stripped.slice(0, -1).trim();
      pending = pending
        ? { text: `${pending.text} ${part}`, line: pending.line }
        : { text: part, line };
      continue;
    }
    const whole = pending ? `${pending.text} ${stripped}`.trim() : stripped;
    out.push({ text: whole, line: pending?.line ?? line });
    pending = undefined;
  }
  return out;
}

/** The commands in README.md's fenced `sh` and `bash` blocks. */
export function readmeCommands(markdown: string, file = "README.md"): DocCommand[] {
  const commands: DocCommand[] = [];
  let fence: { shell: boolean; start: number; lines: { text: string; line: number }[] } | undefined;
  for (const [index, text] of markdown.split("\n").entries()) {
    const marker = /^\s*```(\S*)/.exec(text);
    if (marker && !fence) {
      fence = { shell: marker[1] === "sh" || marker[1] === "bash", start: index + 1, lines: [] };
    } else if (marker && fence) {
      if (fence.shell) {
        for (const command of commandsOf(fence.lines)) {
          commands.push({
            where: `${file}:${command.line}`,
            file,
            group: `${file}:${fence.start}`,
            text: command.text,
          });
        }
      }
      fence = undefined;
    } else if (fence) {
      fence.lines.push({ text, line: index + 1 });
    }
  }
  return commands;
}

/**
 * The commands of a TypeScript example's header comment: lines indented by
 * at least three spaces after ` * `, outside fenced blocks.
 */
export function exampleHeaderCommands(text: string, file: string): DocCommand[] {
  const end = text.indexOf("*/");
  if (!text.trimStart().startsWith("/**") || end < 0) return [];
  const header = text.slice(0, end).split("\n");
  const lines: { text: string; line: number }[] = [];
  let fenced = false;
  header.forEach((raw, index) => {
    const body = raw.replace(/^\s*\/?\*\*? ?/, "");
    if (/^```/.test(body.trim())) {
      fenced = !fenced;
      return;
    }
    if (fenced) return;
    const indented = /^ {2,}(\S.*)$/.exec(body);
    lines.push({ text: indented ? indented[1] : "", line: index + 1 });
  });
  return commandsOf(lines).map((command) => ({
    where: `${file}:${command.line}`,
    file,
    group: file,
    text: command.text,
  }));
}

/** The commands of a YAML example's leading comment: `#   command` lines. */
export function yamlHeaderCommands(text: string, file: string): DocCommand[] {
  const lines: { text: string; line: number }[] = [];
  for (const [index, raw] of text.split("\n").entries()) {
    if (!raw.startsWith("#")) break;
    const indented = /^# {3,}(\S.*)$/.exec(raw);
    lines.push({ text: indented ? indented[1] : "", line: index + 1 });
  }
  return commandsOf(lines).map((command) => ({
    where: `${file}:${command.line}`,
    file,
    group: file,
    text: command.text,
  }));
}
