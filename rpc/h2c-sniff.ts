import type { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";

/** The HTTP/2 connection preface a client sends first (RFC 9113 §3.4), prior knowledge (h2c). */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/**
 * Serves HTTP/1.1 and h2c (prior knowledge) on one listener: waits for a connection's first bytes,
 * and hands the connection to `h2` (emitting its `connection` event) when they open the HTTP/2
 * preface, to `h1` otherwise, with the bytes read so far put back. A first packet that is a short
 * piece of the preface waits for more bytes before deciding. `onFirstBytes` runs once, when the
 * first bytes arrive (before the decision).
 */
export function sniffH2c(socket: Duplex, h1: EventEmitter, h2: EventEmitter, onFirstBytes?: () => void): void {
  let seen: Buffer | undefined;
  const onData = (chunk: Buffer): void => {
    if (seen === undefined) onFirstBytes?.();
    seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (isH2 && n < H2_PREFACE.length) return;
    socket.off("data", onData);
    socket.pause();
    socket.unshift(seen);
    if (isH2) {
      h2.emit("connection", socket);
    } else {
      h1.emit("connection", socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
}
