/**
 * ABOR as real clients send it during a download: lftp's Telnet IAC IP, then
 * IAC DM as TCP urgent data, then "ABOR"; python ftplib's whole line as urgent
 * data. (Deno cannot send urgent data, so python does.)
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { hasCommand, randomBytes, startServer } from "../helpers.ts";
import { runOk } from "./_clients.ts";

const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

const SCRIPT = `
import socket, sys, json
port, style = int(sys.argv[1]), sys.argv[2]
def reply(f):
    while True:
        line = f.readline().decode()
        if len(line) > 3 and line[3] == " ":
            return line.strip()
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
reply(f)
for c in ["USER u", "PASS p", "TYPE I"]:
    s.sendall((c + "\\r\\n").encode()); reply(f)
s.sendall(b"EPSV\\r\\n"); port2 = int(reply(f).split("|||")[1].split("|")[0])
d = socket.create_connection(("127.0.0.1", port2))
s.sendall(b"RETR big.bin\\r\\n"); first = reply(f)
d.recv(65536)  # the transfer runs; stop reading so it blocks
if style == "lftp":
    s.sendall(b"\\xff\\xf4"); s.send(b"\\xff\\xf2", socket.MSG_OOB); s.sendall(b"ABOR\\r\\n")
else:
    s.sendall(b"ABOR\\r\\n", socket.MSG_OOB)
s.settimeout(5)
out = [first, reply(f), reply(f)]
s.sendall(b"NOOP\\r\\n"); out.append(reply(f))
print(json.dumps(out))
`;

for (const style of ["lftp", "ftplib"]) {
  Deno.test({
    name: `ABOR sent the ${style} way (urgent data) stops a download at once: 426, 226`,
    ignore: !hasCommand(PYTHON),
    async fn() {
      await using ts = await startServer();
      await Deno.writeFile(`${ts.root}/big.bin`, randomBytes(32 * 1024 * 1024));
      const result = await runOk(PYTHON, ["-c", SCRIPT, String(ts.addr.port), style], {
        timeoutMs: 15_000,
      });
      const replies: string[] = JSON.parse(result.stdout);
      assert.deepEqual(replies.map((r) => r.slice(0, 3)), ["150", "426", "226", "200"]);
    },
  });
}
