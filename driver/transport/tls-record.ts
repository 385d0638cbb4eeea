/**
 * HTTPS connections of the HTTP/1.1 fast path whose records are sealed and opened in native code
 * (native/tls-record.c) once node:tls has made the handshake: node's TLS socket costs about 3 µs
 * of CPU per keep-alive request on this machine even in a loop that does nothing else, more than
 * half of a plain request (docs/benchmarks.md); sealing a request and opening its answer natively
 * costs about 0.6 µs.
 *
 * The handshake is node's, with every option the test gave (CA, client certificate, SNI, insecure,
 * the secure context shared by the endpoint): node:tls runs over a {@link Duplex} that passes the
 * TCP socket's bytes whole record by whole record and keeps each record both ways. Just after
 * secureConnect, when TLS 1.3 or TLS 1.2 was negotiated with an AEAD suite (AES-GCM or
 * ChaCha20-Poly1305), the keys and sequence numbers come from the secrets node:tls logs and those
 * records (tls-keys.ts), node's TLS socket is dropped without writing anything more, and the TCP
 * socket carries the records itself: each write is sealed, each read opened. TLS 1.3 session
 * tickets the target sends later are skipped; a close_notify ends the connection as a TCP close
 * would; a record that does not decrypt, another alert, a KeyUpdate or a TLS 1.2 renegotiation
 * (which this does not follow) fails the connection with an ERR_TLS_* code (the `tls` error kind).
 *
 * Another suite (TLS 1.2 CBC), or no native build (`npm ci`, and installing the package, build it
 * with the system C compiler when there is one; KANNON_NODE_TLS=1 leaves it unused): node's TLS socket carries the connection
 * (through the Duplex for the first, which marks its endpoint so that the origin's next
 * connections go straight to node:tls).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { Socket } from "node:net";
import { dirname, join } from "node:path";
import { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { nowMs } from "../clock.js";
import { layerKeys } from "./tls-keys.js";

interface RecordLayer {
  create(version: 12 | 13, cipher: number, sealKey: Uint8Array, sealIv: Uint8Array, sealSeq: number, openKey: Uint8Array, openIv: Uint8Array, openSeq: number): object;
  /** Seals `plain` into `out` (at least {@link sealedLength} bytes); returns the bytes written. */
  seal(layer: object, plain: Uint8Array, out: Uint8Array): number;
  /** Opens the whole records of `bytes` into `out` (at least `bytes` plus a partial record long); -1 once closed. */
  open(layer: object, bytes: Uint8Array, out: Uint8Array): number;
}

/** The native record layer, or undefined when it was not built. */
export const nativeRecordLayer: RecordLayer | undefined = (() => {
  if (process.env.KANNON_NODE_TLS === "1") return undefined;
  try {
    // The package's root holds native/build/ both in the repository and in the installed package
    // (whose modules are under dist/): the nearest folder up with a package.json.
    let dir = dirname(fileURLToPath(import.meta.url));
    while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
    return createRequire(import.meta.url)(join(dir, "native", "build", "tls-record.node")) as RecordLayer;
  } catch {
    return undefined;
  }
})();

const HEAD = 5;
const MAX_PLAIN = 16384;

/** Bytes that sealing `n` bytes of plaintext may write: per record a head, an explicit nonce or content type, a tag. */
export const sealedLength = (n: number): number => n + Math.max(1, Math.ceil(n / MAX_PLAIN)) * 29;

/** Splits the whole records off the front of `bytes`: [records, the rest]. */
function wholeRecords(bytes: Buffer): [Buffer[], Buffer] {
  const records: Buffer[] = [];
  let at = 0;
  while (bytes.length - at >= HEAD) {
    const end = at + HEAD + bytes.readUInt16BE(at + 3);
    if (end > bytes.length) break;
    records.push(bytes.subarray(at, end));
    at = end;
  }
  return [records, bytes.subarray(at)];
}

/** What {@link dialSealed} needs of an endpoint; `sealed` is set false once its origin negotiated TLS 1.2. */
export interface SealedEndpoint {
  host: string;
  port: number;
  tls: import("node:tls").ConnectionOptions;
  sealed?: boolean;
}

/** The plaintext of every read: one buffer, valid only during the reader's call (as dial.ts's). */
const PLAIN = Buffer.allocUnsafe(160 * 1024);
const CIPHER_READ = Buffer.allocUnsafe(64 * 1024);
const EMPTY = Buffer.alloc(0);

/** net.Socket's own write, for the records node:tls writes before the switch. */
const rawWrite = Socket.prototype.write as (this: Socket, bytes: Uint8Array) => boolean;

/**
 * Opens a TLS connection to `e` whose records, after node:tls's handshake, the native layer seals
 * and opens (see the file's comment); `ready`, `handshake` and `read` as dial.ts's `dial`.
 * Only when {@link nativeRecordLayer} is there.
 */
export function dialSealed(e: SealedEndpoint, ready: () => void, handshake: ((ms: number) => void) | undefined, read: (bytes: Buffer) => void): Socket {
  const native = nativeRecordLayer!;
  /** Ciphertext of a record not yet whole, before the switch. */
  let partial = Buffer.alloc(0);
  const serverRecords: Buffer[] = [];
  const clientRecords: Buffer[] = [];
  /** Whether records are still kept (until the switch, or until node:tls is left to carry the connection). */
  let keeping = true;
  const secrets = new Map<string, Buffer>();
  let tcpMs = Number.NaN;

  let layer: object | undefined;
  /**
   * Opens `bytes` and reads their data; when the layer ended (close_notify, or a record that
   * failed after data in the same bytes), reads the data before the end, then ends the connection:
   * as when the target closes it, or with the error. False once the socket is destroyed.
   */
  const openInto = (sealed: object, bytes: Buffer): boolean => {
    let n: number;
    try {
      n = native.open(sealed, bytes, PLAIN);
    } catch (err) {
      socket.destroy(err as Error);
      return false;
    }
    // The reader's own errors (a parser bug it rethrows) are not the connection's: outside the try.
    if (n >= 0) {
      if (n > 0) read(PLAIN.subarray(0, n));
      return true;
    }
    if (n < -1) read(PLAIN.subarray(0, -1 - n));
    let ended: Error | undefined;
    try {
      native.open(sealed, EMPTY, PLAIN);
    } catch (err) {
      ended = err as Error;
    }
    socket.destroy(ended);
    return false;
  };
  // net's `onread` (as dial.ts's): the constructor takes it too, though its type does not say so.
  const socket = new Socket({
    onread: {
      buffer: CIPHER_READ,
      callback: (n: number, buf: Uint8Array): boolean => {
        const bytes = (buf as Buffer).subarray(0, n);
        if (layer !== undefined) return openInto(layer, bytes);
        if (!keeping) {
          tap.push(Buffer.from(bytes));
          return true;
        }
        // Before the switch: node:tls gets whole records only, so that none is left half in it.
        const [records, rest] = wholeRecords(Buffer.concat([partial, bytes]));
        partial = Buffer.from(rest);
        for (const r of records) {
          const copy = Buffer.from(r);
          if (keeping) serverRecords.push(copy);
          tap.push(copy);
        }
        return true;
      },
    },
  } as ConstructorParameters<typeof Socket>[0]);
  const tap = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      // node:tls writes its ClientHello before tlsConnect returns; nothing it writes after the switch goes out.
      if (layer === undefined) {
        if (keeping) clientRecords.push(...wholeRecords(chunk)[0].map((r) => Buffer.from(r)));
        rawWrite.call(socket, chunk);
      }
      callback();
    },
  });
  socket.setNoDelay(true);
  socket.once("connect", () => (tcpMs = nowMs()));
  // The writes below replace the socket's own once it carries requests: after connect(), which
  // puts net.Socket's back (a subclass's override would not survive it).
  socket.connect({ host: e.host, port: e.port });
  const tls = tlsConnect({ ...e.tls, host: e.host, port: e.port, socket: tap });
  tls.on("keylog", (line: Buffer) => {
    const [label, , hex] = line.toString("latin1").trim().split(" ");
    if (label && hex) secrets.set(label, Buffer.from(hex, "hex"));
  });
  tls.on("error", (err) => socket.destroy(err));
  socket.once("close", () => tls.destroy());
  tls.once("secureConnect", () => {
    if (!Number.isNaN(tcpMs)) handshake?.(nowMs() - tcpMs);
    /** node:tls carries this connection, through the tap. */
    const viaNode = (): void => {
      keeping = false;
      serverRecords.length = 0;
      clientRecords.length = 0;
      if (partial.length > 0) tap.push(partial);
      partial = Buffer.alloc(0);
      socket.write = ((chunk: unknown, ...rest: unknown[]) => (tls.write as (c: unknown, ...r: unknown[]) => boolean).call(tls, chunk, ...rest)) as Socket["write"];
      tls.on("data", (chunk: Buffer) => read(chunk));
      // A close_notify (or the target's FIN): the connection ends, as on the native layer.
      tls.on("end", () => socket.destroy());
      ready();
    };
    let waits = 0;
    const switchOver = (): void => {
      if (socket.destroyed) return;
      let keys: ReturnType<typeof layerKeys>;
      let sealed: object | undefined;
      try {
        keys = layerKeys(tls.getProtocol(), tls.getCipher()?.standardName ?? "", secrets, clientRecords, serverRecords);
        if (keys !== undefined && keys !== "wait") {
          const { client: c, server: s } = keys;
          sealed = native.create(keys.version, keys.suite.id, c.key, c.iv, c.seq, s.key, s.iv, s.seq);
        }
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      if (keys === "wait" && waits++ < 10) {
        setImmediate(switchOver);
        return;
      }
      if (sealed === undefined) {
        // A version or suite the layer does not carry: the origin's next connections skip the tap.
        if (keys === undefined) e.sealed = false;
        viaNode();
        return;
      }
      layer = sealed;
      const carried = sealed;
      socket.write = ((plain: Buffer, ...rest: unknown[]) => {
        const out = Buffer.allocUnsafe(sealedLength(plain.length));
        const n = native.seal(carried, plain, out);
        return (rawWrite as (this: Socket, c: Uint8Array, ...r: unknown[]) => boolean).call(socket, out.subarray(0, n), ...rest);
      }) as Socket["write"];
      tls.removeAllListeners("error");
      tls.on("error", () => undefined);
      tls.destroy();
      serverRecords.length = 0;
      clientRecords.length = 0;
      // Bytes after the last whole record handed to node:tls are the first the layer opens.
      const rest = partial;
      partial = Buffer.alloc(0);
      if (rest.length > 0 && !openInto(carried, rest)) return;
      ready();
    };
    // node:tls writes the client's last handshake records just after secureConnect (TLS 1.3).
    setImmediate(switchOver);
  });
  return socket;
}
