/**
 * TYPE A conversion: the wire uses CRLF line ends, storage keeps LF.
 *
 * @module
 */

/** LF → CRLF for downloads in TYPE A (a CR already before an LF is kept as is). */
export function toNetworkAscii(): TransformStream<Uint8Array, Uint8Array> {
  let lastWasCR = false;
  return new TransformStream({
    transform(chunk, controller) {
      let extra = 0;
      for (let i = 0; i < chunk.length; i++) {
        if (chunk[i] === 0x0a && !(i === 0 ? lastWasCR : chunk[i - 1] === 0x0d)) extra++;
      }
      if (extra === 0) {
        if (chunk.length) lastWasCR = chunk[chunk.length - 1] === 0x0d;
        controller.enqueue(chunk);
        return;
      }
      const out = new Uint8Array(chunk.length + extra);
      let j = 0;
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i];
        if (byte === 0x0a && !(i === 0 ? lastWasCR : chunk[i - 1] === 0x0d)) out[j++] = 0x0d;
        out[j++] = byte;
      }
      lastWasCR = chunk[chunk.length - 1] === 0x0d;
      controller.enqueue(out);
    },
  });
}

/** CRLF → LF for uploads in TYPE A (a CR split from its LF across chunks is handled). */
export function fromNetworkAscii(): TransformStream<Uint8Array, Uint8Array> {
  let pendingCR = false;
  return new TransformStream({
    transform(chunk, controller) {
      const out = new Uint8Array(chunk.length + 1);
      let j = 0;
      let i = 0;
      if (pendingCR) {
        if (chunk.length === 0) return;
        if (chunk[0] !== 0x0a) out[j++] = 0x0d;
        pendingCR = false;
      }
      for (; i < chunk.length; i++) {
        const byte = chunk[i];
        if (byte === 0x0d) {
          if (i + 1 === chunk.length) {
            pendingCR = true;
            continue;
          }
          if (chunk[i + 1] === 0x0a) continue;
        }
        out[j++] = byte;
      }
      if (j) controller.enqueue(out.subarray(0, j));
    },
    flush(controller) {
      if (pendingCR) controller.enqueue(new Uint8Array([0x0d]));
    },
  });
}
