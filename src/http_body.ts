/**
 * Reading an HTTP answer's body without trusting its size: auth services and
 * webhook receivers are someone else's code.
 *
 * @module
 */

/**
 * The first `maxBytes` of the response body as UTF-8 text; the rest is
 * cancelled unread, so a huge or endless answer costs at most `maxBytes`.
 */
export async function readLimitedText(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(bytes.subarray(0, maxBytes));
}
