/**
 * A child process whose stdout and stderr are collected together as text,
 * with `status` resolving only once both streams are read (the docs and
 * publish tests read what a command printed after it ended).
 */

/** A started process and what it printed so far. */
export interface CollectedProcess {
  child: Deno.ChildProcess;
  /** Resolves when the process ended and its output was read to the end. */
  status: Promise<Deno.CommandStatus>;
  /** stdout and stderr so far, interleaved as they arrived. */
  output(): string;
}

/** Spawn `command` with `args`, feeding `stdin` when given (else no stdin). */
export function spawnCollecting(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; stdin?: string },
): CollectedProcess {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    writer.write(new TextEncoder().encode(options.stdin)).then(() => writer.close()).catch(
      () => {},
    );
  }
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
  };
  const collected = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const status = child.status.then(async (status) => {
    await collected;
    return status;
  });
  return { child, status, output: () => output };
}
