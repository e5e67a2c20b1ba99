/**
 * A small JSR-compatible registry for tests: the publish API `deno publish`
 * talks to (`JSR_API_URL`) and the package files a consumer fetches
 * (`JSR_URL`), both on one `Deno.serve` on port 0.
 *
 * Publishing (https://jsr.io/docs/api, and what Deno 2.9.6 sends):
 * `GET /api/scopes/:scope/packages/:name` must answer 200 (the package
 * exists), `POST /api/scopes/:scope/packages/:name/versions/:version` carries
 * the gzipped tarball (`Authorization: Bearer <token>`) and answers a
 * publishing task, `GET /api/publish_status/:id` its state.
 *
 * Consuming: `/@scope/name/meta.json` (versions, latest),
 * `/@scope/name/<version>_meta.json` (the `manifest` of every file with its
 * size and `sha256-<hex>` checksum, and the `exports`) and
 * `/@scope/name/<version>/<path>`. What is served is exactly what was
 * uploaded (`deno publish` rewrites bare imports to `npm:` specifiers in it),
 * never the working tree.
 *
 * @module
 */

/** One published version: its files by path (`/mod.ts`) and its exports. */
export interface PublishedVersion {
  files: Map<string, Uint8Array>;
  exports: Record<string, string>;
  createdAt: string;
}

/** A running registry. */
export interface JsrRegistry extends AsyncDisposable {
  /** `JSR_URL` for consumers, ending in `/`. */
  url: string;
  /** `JSR_API_URL` for `deno publish`, ending in `/`. */
  apiUrl: string;
  /** Published versions by `@scope/name@version`. */
  published: Map<string, PublishedVersion>;
  /** Every request it saw (`METHOD /path status`), to explain a failure. */
  requests: string[];
}

/** Files of a (gzipped) tar archive, by path with a leading `/`. */
export async function untar(gzipped: Uint8Array): Promise<Map<string, Uint8Array>> {
  const tar = new Uint8Array(
    await new Response(
      new Blob([gzipped as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
        new DecompressionStream("gzip"),
      ),
    ).arrayBuffer(),
  );
  const files = new Map<string, Uint8Array>();
  const text = (from: number, length: number) => {
    const bytes = tar.subarray(from, from + length);
    const end = bytes.indexOf(0);
    return new TextDecoder().decode(end === -1 ? bytes : bytes.subarray(0, end));
  };
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= tar.length) {
    if (tar.subarray(offset, offset + 512).every((byte) => byte === 0)) break;
    const size = parseInt(text(offset + 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(tar[offset + 156] || 0x30);
    const prefix = text(offset + 345, 155);
    let name = longName ?? (prefix ? `${prefix}/${text(offset, 100)}` : text(offset, 100));
    longName = undefined;
    const body = tar.slice(offset + 512, offset + 512 + size);
    if (type === "x") {
      // A PAX header: `<len> path=<name>\n` records apply to the next entry.
      const path = /\d+ path=([^\n]*)\n/.exec(new TextDecoder().decode(body));
      if (path) longName = path[1];
    } else if (type === "L") {
      longName = new TextDecoder().decode(body).replace(/\0+$/, "");
    } else if (type === "0" || type === "\0") {
      name = `/${name.replace(/^\.?\/+/, "")}`;
      files.set(name, body);
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

const CONTENT_TYPES: Record<string, string> = {
  ts: "application/typescript; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  md: "text/markdown; charset=utf-8",
};

/** Start a registry on 127.0.0.1, port 0. */
export function startJsrRegistry(): JsrRegistry {
  const published = new Map<string, PublishedVersion>();
  const requests: string[] = [];
  const tasks = new Map<string, { id: string; status: string; error: unknown }>();
  const json = (body: unknown, status = 200) => Response.json(body, { status });

  const handle = async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    let match: RegExpExecArray | null;
    // --- publish API ---
    if ((match = /^\/api\/scopes\/([^/]+)\/packages\/([^/]+)$/.exec(pathname))) {
      return json({ scope: match[1], name: match[2] });
    }
    if ((match = /^\/api\/scopes\/([^/]+)\/packages\/([^/]+)\/versions\/([^/]+)$/.exec(pathname))) {
      if (request.method !== "POST") return json({ code: "notFound" }, 404);
      if (!/^Bearer \S+/.test(request.headers.get("authorization") ?? "")) {
        return json({ code: "missingAuthentication", message: "no token" }, 401);
      }
      const [, scope, name, version] = match;
      const files = await untar(new Uint8Array(await request.arrayBuffer()));
      const config = JSON.parse(new TextDecoder().decode(files.get("/deno.json")));
      const exports = typeof config.exports === "string" ? { ".": config.exports } : config.exports;
      published.set(`@${scope}/${name}@${version}`, {
        files,
        exports,
        createdAt: new Date().toISOString(),
      });
      const task = { id: crypto.randomUUID(), status: "success", error: null };
      tasks.set(task.id, task);
      return json({ ...task, packageScope: scope, packageName: name, packageVersion: version });
    }
    if ((match = /^\/api\/publish_status\/([^/]+)$/.exec(pathname))) {
      const task = tasks.get(match[1]);
      return task ? json(task) : json({ code: "publishNotFound" }, 404);
    }
    // --- what consumers fetch ---
    if ((match = /^\/@([^/]+)\/([^/]+)\/meta\.json$/.exec(pathname))) {
      const [, scope, name] = match;
      const versions: Record<string, { createdAt: string }> = {};
      for (const [key, value] of published) {
        const prefix = `@${scope}/${name}@`;
        if (key.startsWith(prefix)) versions[key.slice(prefix.length)] = value;
      }
      const names = Object.keys(versions);
      if (names.length === 0) return json({ code: "packageNotFound" }, 404);
      return json({
        scope,
        name,
        latest: names.at(-1),
        versions: Object.fromEntries(
          names.map((version) => [version, { createdAt: versions[version].createdAt }]),
        ),
      });
    }
    if ((match = /^\/@([^/]+)\/([^/]+)\/([^/]+)_meta\.json$/.exec(pathname))) {
      const version = published.get(`@${match[1]}/${match[2]}@${match[3]}`);
      if (!version) return json({ code: "packageVersionNotFound" }, 404);
      const manifest: Record<string, { size: number; checksum: string }> = {};
      for (const [path, bytes] of version.files) {
        manifest[path] = { size: bytes.length, checksum: `sha256-${await sha256Hex(bytes)}` };
      }
      return json({ manifest, exports: version.exports, createdAt: version.createdAt });
    }
    if ((match = /^\/@([^/]+)\/([^/]+)\/([^/_]+)(\/.*)$/.exec(pathname))) {
      const version = published.get(`@${match[1]}/${match[2]}@${match[3]}`);
      const bytes = version?.files.get(decodeURIComponent(match[4]));
      if (!bytes) return new Response("not found", { status: 404 });
      const type = CONTENT_TYPES[match[4].split(".").at(-1)!] ?? "application/octet-stream";
      return new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": type },
      });
    }
    return json({ code: "notFound", message: `no route ${request.method} ${pathname}` }, 404);
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const response = await handle(request);
    requests.push(`${request.method} ${new URL(request.url).pathname} ${response.status}`);
    return response;
  });
  const base = `http://127.0.0.1:${server.addr.port}/`;
  return {
    url: base,
    apiUrl: `${base}api/`,
    published,
    requests,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}
