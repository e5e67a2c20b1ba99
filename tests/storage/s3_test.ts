/**
 * s3 connector specifics: config validation, start-up checks, per-user
 * prefixes, lazy SDK loading, and the upload/copy machinery against a fake
 * client (what s3rver cannot show: bounded buffers, aborts, multipart copy).
 */

import assert from "node:assert/strict";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { StorageError } from "../../mod.ts";
import { buildOptions, parseConfigText } from "../../src/config/config.ts";
import { ConfigError } from "../../src/config/error.ts";
import { FtpServer } from "../../src/server.ts";
import { silentLogger } from "../../src/log.ts";
import { prefixForUser, s3Options, STORAGE_CONNECTORS } from "../../src/storage/registry.ts";
import { S3Storage } from "../../src/storage/s3/mod.ts";
import { RawFtpClient } from "../../src/testing/raw_client.ts";
import { S3RVER_CREDENTIALS, s3rverUnavailable, startS3rver } from "../s3rver.ts";

const MIB = 1024 * 1024;
const unavailable = s3rverUnavailable();
const ignored = unavailable ? ` (ignored: ${unavailable})` : "";

// ---- config validation (no network) ----

Deno.test("s3 config: every mistake names its key", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{}, "storage_config.bucket"],
    [{ bucket: "" }, "storage_config.bucket"],
    [{ bucket: "b", buckett: "x" }, "storage_config.buckett"],
    [{ bucket: "b", endpoint: "localhost:9000" }, "storage_config.endpoint"],
    [{ bucket: "b", force_path_style: "yes" }, "storage_config.force_path_style"],
    [
      { bucket: "b", request_checksum_calculation: "NEVER" },
      "storage_config.request_checksum_calculation",
    ],
    [{ bucket: "b", access_key_id: "k" }, "storage_config.secret_access_key"],
    [{ bucket: "b", secret_access_key: "s" }, "storage_config.access_key_id"],
    [{ bucket: "b", session_token: "t" }, "storage_config.session_token"],
    [{ bucket: "b", part_size_mib: 4 }, "storage_config.part_size_mib"],
    [{ bucket: "b", part_size_mib: 5.5 }, "storage_config.part_size_mib"],
    [{ bucket: "b", queue_size: 0 }, "storage_config.queue_size"],
    [{ bucket: "b", prefix: "users/{user}" }, "storage_config.prefix"],
    [{ bucket: "b", prefix: "a/../b" }, "storage_config.prefix"],
  ];
  for (const [config, key] of cases) {
    assert.throws(
      () => s3Options(config),
      (error) => error instanceof ConfigError && error.key === key,
      `${JSON.stringify(config)} → ${key}`,
    );
  }
  assert.deepEqual(
    s3Options({
      bucket: "b",
      prefix: "users/{username}",
      region: "eu-west-1",
      endpoint: "http://localhost:9000",
      force_path_style: true,
      access_key_id: "k",
      secret_access_key: "s",
      part_size_mib: 8,
      queue_size: 2,
    }),
    {
      bucket: "b",
      prefix: "users/{username}",
      region: "eu-west-1",
      endpoint: "http://localhost:9000",
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      credentials: { accessKeyId: "k", secretAccessKey: "s", sessionToken: undefined },
      partSize: 8 * MIB,
      queueSize: 2,
    },
  );
});

Deno.test("s3 per-user prefixes refuse names that could leave the user's prefix", () => {
  assert.equal(prefixForUser("users/{username}", "alice"), "users/alice");
  assert.equal(prefixForUser("{username}/ftp", "Bob Smith"), "Bob Smith/ftp");
  for (const name of ["", ".", "..", "a/b", "a\\b", "a\nb"]) {
    assert.throws(
      () => prefixForUser("users/{username}", name),
      (error) => error instanceof StorageError && error.kind === "invalid_name",
      JSON.stringify(name),
    );
  }
});

Deno.test("memory config: max_bytes is checked and enforced", async () => {
  assert.throws(
    () => STORAGE_CONNECTORS.memory({ max_bytes: -1 }, { baseDir: "." }),
    (error) => error instanceof ConfigError && error.key === "storage_config.max_bytes",
  );
  const storage = await STORAGE_CONNECTORS.memory({ max_bytes: 10 }, { baseDir: "." });
  assert.ok(typeof storage !== "function");
  await storage.write("/a", new Blob(["12345"]).stream());
  await assert.rejects(
    storage.write("/b", new Blob(["123456"]).stream()),
    (error) => error instanceof StorageError && error.kind === "storage_full",
  );
  await storage.write("/a", new Blob(["1234567890"]).stream()); // replacing frees the old bytes
});

Deno.test("a file-backed server never loads the S3 SDK (no env access needed)", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const registry = new URL("../../src/storage/registry.ts", import.meta.url).href;
    const mod = new URL("../../mod.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { FtpServer, PassthroughAuthenticator, silentLogger } from "${mod}";
       import { STORAGE_CONNECTORS } from "${registry}";
       const storage = await STORAGE_CONNECTORS.file({ root: "." }, { baseDir: "." });
       await STORAGE_CONNECTORS.memory({}, { baseDir: "." });
       const authenticator = new PassthroughAuthenticator();
       const server = new FtpServer({ port: 0, authenticator, storage, logger: silentLogger });
       await server.listen();
       await server.close();
       console.log("ok");`,
    );
    // Without --allow-env: importing the SDK would fail (it reads AWS_* at import time).
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--allow-read", "--allow-net=127.0.0.1,0.0.0.0", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(new TextDecoder().decode(run.stdout).trim(), "ok", stderr);
  } finally {
    await Deno.remove(script);
  }
});

// ---- the upload and copy machinery, against a scripted client ----

interface Sent {
  name: string;
  input: Record<string, unknown>;
}

/** A stand-in S3 client: records commands and answers through `answer`. */
function fakeClient(answer: (sent: Sent) => unknown | Promise<unknown>) {
  const sent: Sent[] = [];
  return {
    sent,
    names: () => sent.map((s) => s.name),
    client: {
      async send(command: unknown) {
        const { constructor, input } = command as {
          constructor: { name: string };
          input: Record<string, unknown>;
        };
        const entry = { name: constructor.name.replace(/Command$/, ""), input };
        sent.push(entry);
        return await answer(entry);
      },
    },
  };
}

const notFound = () =>
  Object.assign(new Error("Not Found"), {
    name: "NotFound",
    $metadata: { httpStatusCode: 404 },
  });

/** Answers for an empty bucket that accepts every upload. */
function emptyBucket(sent: Sent, partDelayMs = 0): unknown {
  switch (sent.name) {
    case "HeadObject":
      throw notFound();
    case "ListObjectsV2":
      return { Contents: [], CommonPrefixes: [] };
    case "CreateMultipartUpload":
      return { UploadId: "upload-1" };
    case "UploadPart":
      return new Promise((resolve) =>
        setTimeout(() => resolve({ ETag: `"${sent.input.PartNumber}"` }), partDelayMs)
      );
    default:
      return {};
  }
}

function patternStream(total: number, chunk: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(chunk, total - sent);
      controller.enqueue(new Uint8Array(n).fill(sent / chunk));
      sent += n;
    },
  });
}

Deno.test("uploads hold at most queueSize parts in flight in queueSize + 1 reused buffers", async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  const buffers = new Set<ArrayBufferLike>();
  const fake = fakeClient(async (sent) => {
    if (sent.name !== "UploadPart") return emptyBucket(sent);
    buffers.add((sent.input.Body as Uint8Array).buffer);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 5));
    inFlight--;
    return { ETag: `"${sent.input.PartNumber}"` };
  });
  const storage = new S3Storage({ bucket: "b", client: fake.client, queueSize: 2 });
  const total = 60 * MIB + 123;
  assert.equal(await storage.write("/big.bin", patternStream(total, 100_000)), total);
  const parts = fake.sent.filter((s) => s.name === "UploadPart");
  assert.equal(parts.length, 13, "12 full 5 MiB parts and the rest");
  assert.ok(parts.slice(0, -1).every((p) => (p.input.Body as Uint8Array).length === 5 * MIB));
  assert.ok(maxInFlight <= 2, `parts in flight: ${maxInFlight}`);
  assert.ok(buffers.size <= 3, `part buffers allocated: ${buffers.size}`);
  const complete = fake.sent.find((s) => s.name === "CompleteMultipartUpload")!;
  const listed = (complete.input.MultipartUpload as { Parts: { PartNumber: number }[] }).Parts;
  assert.deepEqual(listed.map((p) => p.PartNumber), Array.from({ length: 13 }, (_, i) => i + 1));
});

Deno.test("a small upload is one PutObject; an exclusive one sends If-None-Match", async () => {
  const fake = fakeClient((sent) => emptyBucket(sent));
  const storage = new S3Storage({ bucket: "b", prefix: "p", client: fake.client });
  await storage.write("/x.txt", new Blob(["hello"]).stream(), { exclusive: true });
  const put = fake.sent.find((s) => s.name === "PutObject")!;
  assert.equal(put.input.Key, "p/x.txt");
  assert.equal(put.input.IfNoneMatch, "*");
  assert.equal(new TextDecoder().decode(put.input.Body as Uint8Array), "hello");
  assert.ok(!fake.names().includes("CreateMultipartUpload"));
});

Deno.test("a store's 412 on an exclusive write is already_exists", async () => {
  const fake = fakeClient((sent) => {
    if (sent.name === "PutObject") {
      throw Object.assign(
        new Error("At least one of the pre-conditions you specified did not hold"),
        {
          name: "PreconditionFailed",
          $metadata: { httpStatusCode: 412 },
        },
      );
    }
    return emptyBucket(sent);
  });
  const storage = new S3Storage({ bucket: "b", client: fake.client });
  await assert.rejects(
    storage.write("/x.txt", new Blob(["late"]).stream(), { exclusive: true }),
    (error) => error instanceof StorageError && error.kind === "already_exists",
  );
});

Deno.test("a failing part aborts the multipart upload before the write rejects", async () => {
  const fake = fakeClient((sent) => {
    if (sent.name === "UploadPart" && sent.input.PartNumber === 2) {
      throw Object.assign(new Error("We encountered an internal error"), {
        name: "InternalError",
        $metadata: { httpStatusCode: 500 },
      });
    }
    return emptyBucket(sent, 2);
  });
  const storage = new S3Storage({ bucket: "b", client: fake.client });
  await assert.rejects(
    storage.write("/x.bin", patternStream(30 * MIB, 65536)),
    (error) =>
      error instanceof StorageError && error.kind === "io" && /InternalError/.test(error.message),
  );
  assert.equal(fake.names().at(-1), "AbortMultipartUpload");
  assert.ok(!fake.names().includes("CompleteMultipartUpload"));
});

Deno.test("an aborted signal aborts the multipart upload and rejects with its reason", async () => {
  const fake = fakeClient((sent) => emptyBucket(sent, 1));
  const storage = new S3Storage({ bucket: "b", client: fake.client });
  const controller = new AbortController();
  const reason = new Error("ABOR");
  let sent = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= 12 * MIB) {
        controller.abort(reason);
        return new Promise(() => {}); // the client stalls; only the abort ends this
      }
      c.enqueue(new Uint8Array(MIB));
      sent += MIB;
    },
  });
  await assert.rejects(
    storage.write("/x.bin", source, { signal: controller.signal }),
    (e) => e === reason,
  );
  assert.equal(fake.names().at(-1), "AbortMultipartUpload");
});

Deno.test("renaming an object above 5 GiB copies it part by part", async () => {
  const size = 6 * 1024 * MIB + 5;
  const fake = fakeClient((sent) => {
    if (sent.name === "HeadObject" && sent.input.Key === "huge.bin") {
      return { ContentLength: size, ETag: '"e"' };
    }
    if (sent.name === "UploadPartCopy") {
      return { CopyPartResult: { ETag: `"${sent.input.PartNumber}"` } };
    }
    return emptyBucket(sent);
  });
  const storage = new S3Storage({ bucket: "my bucket", client: fake.client });
  await storage.rename("/huge.bin", "/moved ü.bin");
  const copies = fake.sent.filter((s) => s.name === "UploadPartCopy");
  assert.equal(copies.length, 13, "512 MiB parts");
  assert.equal(copies[0].input.CopySource, "my%20bucket/huge.bin");
  assert.equal(copies[0].input.CopySourceRange, `bytes=0-${512 * MIB - 1}`);
  assert.equal(copies.at(-1)!.input.CopySourceRange, `bytes=${12 * 512 * MIB}-${size - 1}`);
  assert.equal(copies[0].input.Key, "moved ü.bin");
  assert.ok(!fake.names().includes("CopyObject"));
  assert.deepEqual(fake.names().slice(-2), ["CompleteMultipartUpload", "DeleteObject"]);
});

// ---- against s3rver ----

Deno.test({
  name: `s3 from YAML: wrong bucket and unreachable endpoint fail fast and clearly${ignored}`,
  ignore: unavailable !== undefined,
  async fn() {
    await using s3 = await startS3rver();
    const config = (storage: string) =>
      parseConfigText(
        `ftp_port: 0\nstorage_connector: s3\nstorage_config:\n${storage}`,
        "test.yaml",
      ).then((raw) => buildOptions(raw, "."));
    const keys = `  access_key_id: S3RVER\n  secret_access_key: S3RVER\n`;

    const started = Date.now();
    await assert.rejects(
      config(`  bucket: no-such-bucket\n  endpoint: ${s3.endpoint}\n${keys}`),
      (error) =>
        error instanceof ConfigError && error.key === "storage_config.bucket" &&
        /no-such-bucket" does not exist/.test(error.message),
    );
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadPort = closed.addr.port;
    closed.close();
    await assert.rejects(
      config(`  bucket: ${s3.bucket}\n  endpoint: http://127.0.0.1:${deadPort}\n${keys}`),
      (error) => error instanceof ConfigError && /Cannot reach S3/.test(error.message),
    );
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
  },
});

Deno.test({
  name: `s3 from YAML with prefix users/{username}: each user sees only their own files${ignored}`,
  ignore: unavailable !== undefined,
  async fn() {
    await using s3 = await startS3rver();
    const raw = await parseConfigText(
      [
        "ftp_port: 0",
        "min_passive_port: 0",
        "max_passive_port: 0",
        "login_failure_delay_ms: 0",
        "storage_connector: s3",
        "storage_config:",
        `  bucket: ${s3.bucket}`,
        `  endpoint: ${s3.endpoint}`,
        "  force_path_style: true",
        "  prefix: users/{username}",
        `  access_key_id: ${S3RVER_CREDENTIALS.accessKeyId}`,
        `  secret_access_key: ${S3RVER_CREDENTIALS.secretAccessKey}`,
      ].join("\n"),
      "users.yaml",
    );
    const { options } = await buildOptions(raw, ".");
    await using server = new FtpServer({ ...options, logger: silentLogger });
    const addr = await server.listen();
    const sdk = new S3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { ...S3RVER_CREDENTIALS },
    });
    try {
      using alice = await RawFtpClient.connect(addr);
      await alice.login("alice", "pw");
      await alice.send("TYPE I");
      assert.equal((await alice.send("MKD inbox")).code, 257);
      const stored = await alice.upload("STOR inbox/a.txt", new TextEncoder().encode("A"));
      assert.equal(stored.at(-1)?.code, 226);

      using bob = await RawFtpClient.connect(addr);
      await bob.login("bob", "pw");
      assert.deepEqual((await bob.listing("NLST")).lines, [], "bob sees none of alice's files");
      assert.equal((await bob.send("CWD /inbox")).code, 550);

      const listed = await sdk.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
      assert.deepEqual(
        (listed.Contents ?? []).map((c) => c.Key).sort(),
        ["users/alice/inbox/", "users/alice/inbox/a.txt"],
      );

      using mallory = await RawFtpClient.connect(addr);
      await mallory.send("USER ../alice");
      assert.equal((await mallory.send("PASS pw")).code, 530, "a name that escapes its prefix");
    } finally {
      sdk.destroy();
      const provider = options.storage;
      if (typeof provider === "function") {
        // The per-user views share one client: destroy it through any view.
        (await provider({ username: "cleanup" }) as S3Storage).destroy();
      }
    }
  },
});

Deno.test("examples/s3.yaml is a valid s3 configuration", async () => {
  const path = new URL("../../examples/s3.yaml", import.meta.url).pathname;
  const raw = await parseConfigText(await Deno.readTextFile(path), path);
  assert.equal(raw.storage_connector, "s3");
  const options = s3Options(raw.storage_config as Record<string, unknown>);
  assert.equal(options.prefix, "users/{username}");
  assert.equal(options.requestChecksumCalculation, "WHEN_REQUIRED");
});

Deno.test("a store that refuses batch deletes gets them one by one", async () => {
  const fake = fakeClient((sent) => {
    if (sent.name === "ListObjectsV2" && sent.input.Prefix === "old/") {
      return {
        Contents: [{ Key: "old/", Size: 0 }, { Key: "old/a.txt", Size: 1 }],
        CommonPrefixes: [],
      };
    }
    if (sent.name === "DeleteObjects") {
      throw Object.assign(new Error("Missing required header for this request: Content-Md5"), {
        name: "InvalidRequest",
        $metadata: { httpStatusCode: 400 },
      });
    }
    return emptyBucket(sent);
  });
  const storage = new S3Storage({ bucket: "b", client: fake.client });
  await storage.rename("/old", "/new");
  const copied = fake.sent.filter((s) => s.name === "CopyObject").map((s) => s.input.Key);
  assert.deepEqual(copied.sort(), ["new/", "new/a.txt"]);
  const deleted = fake.sent.filter((s) => s.name === "DeleteObject").map((s) => s.input.Key);
  assert.deepEqual(deleted.sort(), ["old/", "old/a.txt"]);
});

Deno.test("a store that goes away mid-upload: the write fails, the abort is retried until it is back", async () => {
  let reachable = true;
  let aborts = 0;
  const down = () =>
    Object.assign(new Error("connect ECONNREFUSED"), { name: "Error", code: "ECONNREFUSED" });
  const fake = fakeClient((sent) => {
    if (sent.name === "UploadPart" && sent.input.PartNumber === 2) reachable = false;
    if (sent.name === "AbortMultipartUpload") {
      aborts++;
      if (!reachable) throw down();
      return {};
    }
    if (!reachable) throw down();
    return emptyBucket(sent);
  });
  const storage = new S3Storage({ bucket: "b", client: fake.client });
  await assert.rejects(storage.write("/x.bin", patternStream(30 * MIB, 65536)), StorageError);
  assert.equal(aborts, 1, "tried at once, while the store was down");
  reachable = true;
  // The first retry comes about 2 s later.
  const deadline = Date.now() + 5000;
  while (aborts < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(aborts, 2, "retried once the store was back");
  assert.ok(!fake.names().includes("CompleteMultipartUpload"));
});
