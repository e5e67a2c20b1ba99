/**
 * The `s3` connector: any S3-compatible store (AWS S3, MinIO, Ceph RGW,
 * Garage, Cloudflare R2, LocalStack…) through `@aws-sdk/client-s3`.
 *
 * The SDK is loaded with a dynamic `import()` on first use (`bucket.ts`), so
 * a server that does not use S3 neither pays for it nor needs environment
 * access; `src/storage/registry.ts` imports this folder lazily too.
 *
 * Layout: the FTP path `/a/b.txt` is the key `<prefix>/a/b.txt`; a folder
 * exists when a `name/` marker object (written by MKD) or any key below it
 * exists. Keys match exactly: `/dir` never answers for `/dir.txt`.
 *
 * The files: `options.ts` (options and their limits), `keys.ts` (paths ↔
 * keys), `errors.ts` (SDK errors → storage errors), `bucket.ts` (connection
 * and time-limited requests), `objects.ts` (head, delete), `listing.ts`
 * (listings, folder markers), `reads.ts`, `writes.ts` (appends, offsets,
 * exclusive), `uploads.ts` (streamed multipart uploads), `resume.ts` (kept
 * uploads of `atomic_resume`: state, resuming, sweeping), `renames.ts`
 * (copy and delete), `connector.ts` (the {@linkcode S3Storage} class).
 *
 * @module
 */

export { S3Storage } from "./connector.ts";
export type { S3ClientLike, S3Credentials, S3StorageOptions } from "./options.ts";
export type { SweepResult } from "./resume.ts";
