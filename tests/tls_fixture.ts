/** Test certificates: a CA and a server certificate for localhost/127.0.0.1 it signed. */

export interface TestCertificates {
  /** PEM of the CA that clients trust. */
  ca: string;
  /** PEM of the server certificate. */
  cert: string;
  /** PEM of the server key. */
  key: string;
  /** Files of the same, for spawned clients. */
  caFile: string;
  certFile: string;
  keyFile: string;
  dir: string;
}

let cached: Promise<TestCertificates> | undefined;

async function openssl(args: string[], cwd: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
}

/** Make (once per test process) a CA and a server certificate with openssl. */
export function testCertificates(): Promise<TestCertificates> {
  cached ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "exftp-tls-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // already gone
      }
    });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=exftp test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign",
    ], dir);
    await openssl([
      "req",
      ...ec,
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=localhost",
    ], dir);
    await Deno.writeTextFile(
      `${dir}/ext.cnf`,
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
    ], dir);
    const read = (name: string) => Deno.readTextFile(`${dir}/${name}`);
    return {
      ca: await read("ca.pem"),
      cert: await read("server.pem"),
      key: await read("server.key"),
      caFile: `${dir}/ca.pem`,
      certFile: `${dir}/server.pem`,
      keyFile: `${dir}/server.key`,
      dir,
    };
  })();
  return cached;
}
