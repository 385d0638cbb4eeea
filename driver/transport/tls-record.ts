/**
 * HTTPS connections of the HTTP/1.1 fast path whose records are sealed and opened in native code
 * (native/tls-record.c) once node:tls has made the handshake: node's TLS socket costs about 3 µs
 * of CPU per keep-alive request on this machine even in a loop that does nothing else, more than
 * half of a plain request (docs/benchmarks.md); sealing a request and opening its answer here
 * costs about 0.6 µs.
 *
 * The handshake is node's, with every option the test gave (CA, client certificate, SNI, insecure,
 * the secure context shared by the endpoint): node:tls runs over a {@link Duplex} that passes the
 * TCP socket's bytes whole record by whole record and notes each record both ways. At
 * secureConnect, when TLS 1.3 was negotiated with one of its three AEAD suites, the application
 * traffic keys are derived from the secrets node:tls logs ('keylog'), the records of each side
 * already under those keys are counted (each one's sequence number is its place among them,
 * RFC 8446 §5.3), node's TLS socket is dropped without writing anything, and the TCP socket carries
 * the records itself: each write is sealed, each read opened. New session tickets the target sends
 * later are skipped; a close_notify ends the connection as a TCP close would; a record that does
 * not decrypt, another alert or a KeyUpdate (which this does not follow) fails the connection with
 * an ERR_TLS_* code (the `tls` error kind).
 *
 * TLS 1.2, or no native build (`npm ci` builds it with the system C compiler when there is one):
 * node's TLS socket as before. A connection that negotiated TLS 1.2 marks its endpoint, so that
 * the origin's next connections go straight to node:tls.
 */
import { createCipheriv, createDecipheriv, createHmac, type CipherGCMTypes } from "node:crypto";
import { createRequire } from "node:module";
import { Socket } from "node:net";
import { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { nowMs } from "../clock.js";

interface RecordLayer {
  create(cipher: number, sealKey: Uint8Array, sealIv: Uint8Array, sealSeq: number, openKey: Uint8Array, openIv: Uint8Array, openSeq: number): object;
  /** Seals `plain` into `out` (at least {@link sealedLength} bytes); returns the bytes written. */
  seal(layer: object, plain: Uint8Array, out: Uint8Array): number;
  /** Opens the whole records of `bytes` into `out` (at least `bytes` plus a partial record long); -1 once closed. */
  open(layer: object, bytes: Uint8Array, out: Uint8Array): number;
}

/** The native record layer, or undefined when it was not built. */
export const nativeRecordLayer: RecordLayer | undefined = (() => {
  if (process.env.KANNON_NODE_TLS === "1") return undefined;
  try {
    return createRequire(import.meta.url)("../../native/build/tls-record.node") as RecordLayer;
  } catch {
    return undefined;
  }
})();

/** The TLS 1.3 suites the native layer carries: its cipher number, node's cipher name, the hash, the key length. */
const SUITES: Record<string, { id: number; cipher: string; hash: string; keyLength: number }> = {
  TLS_AES_128_GCM_SHA256: { id: 0, cipher: "aes-128-gcm", hash: "sha256", keyLength: 16 },
  TLS_AES_256_GCM_SHA384: { id: 1, cipher: "aes-256-gcm", hash: "sha384", keyLength: 32 },
  TLS_CHACHA20_POLY1305_SHA256: { id: 2, cipher: "chacha20-poly1305", hash: "sha256", keyLength: 32 },
};

const HEAD = 5;
const TAG = 16;
const MAX_PLAIN = 16384;

/** Bytes that sealing `n` bytes of plaintext writes: a head, the content type and a tag per record. */
export const sealedLength = (n: number): number => n + Math.max(1, Math.ceil(n / MAX_PLAIN)) * (HEAD + 1 + TAG);

/** HKDF-Expand-Label(secret, label, "", length) (RFC 8446 §7.1), for length ≤ the hash's size. */
export function expandLabel(hash: string, secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, "latin1");
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0, 1])]);
  return createHmac(hash, secret).update(info).digest().subarray(0, length);
}

/** A traffic secret's key and IV (RFC 8446 §7.3). */
export function trafficKeys(suite: { hash: string; keyLength: number }, secret: Buffer): { key: Buffer; iv: Buffer } {
  return { key: expandLabel(suite.hash, secret, "key", suite.keyLength), iv: expandLabel(suite.hash, secret, "iv", 12) };
}

const nonceOf = (iv: Buffer, seq: number): Buffer => {
  const n = Buffer.from(iv);
  for (let i = 0; i < 6; i++) n[11 - i]! ^= Math.floor(seq / 2 ** (8 * i)) & 0xff;
  return n;
};

/** Whether `record` (head and body) decrypts under `key` at sequence number `seq`. */
function opensAt(cipher: string, key: Buffer, iv: Buffer, seq: number, record: Buffer): boolean {
  if (record.length < HEAD + TAG + 1) return false;
  try {
    const d = createDecipheriv(cipher as CipherGCMTypes, key, nonceOf(iv, seq), { authTagLength: TAG });
    d.setAAD(record.subarray(0, HEAD), { plaintextLength: record.length - HEAD - TAG });
    d.setAuthTag(record.subarray(record.length - TAG));
    d.update(record.subarray(HEAD, record.length - TAG));
    d.final();
    return true;
  } catch {
    return false;
  }
}

/**
 * How many of `records` were sealed under `key`: the sequence number of that side's next record.
 * Records under the handshake keys come first and do not open under it.
 */
export function countUnder(cipher: string, key: Buffer, iv: Buffer, records: readonly Buffer[]): number {
  let seq = 0;
  for (const r of records) if (r[0] === 23 && opensAt(cipher, key, iv, seq, r)) seq++;
  return seq;
}

/** For tests: one TLS 1.3 application_data record of `plain` under `key` at `seq`, as a peer seals it. */
export function sealRecord(cipher: string, key: Buffer, iv: Buffer, seq: number, plain: Buffer, type = 23): Buffer {
  const inner = Buffer.concat([plain, Buffer.from([type])]);
  const head = Buffer.from([23, 3, 3, (inner.length + TAG) >> 8, (inner.length + TAG) & 0xff]);
  const c = createCipheriv(cipher as CipherGCMTypes, key, nonceOf(iv, seq), { authTagLength: TAG });
  c.setAAD(head, { plaintextLength: inner.length });
  const body = Buffer.concat([c.update(inner), c.final()]);
  return Buffer.concat([head, body, c.getAuthTag()]);
}

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
  const secrets = new Map<string, Buffer>();
  let tcpMs = Number.NaN;

  // net's `onread` (as dial.ts's): the constructor takes it too, though its type does not say so.
  let layer: object | undefined;
  const socket = new Socket({
    onread: {
      buffer: CIPHER_READ,
      callback: (n: number, buf: Uint8Array): boolean => {
        const bytes = (buf as Buffer).subarray(0, n);
        if (layer !== undefined) {
          let plain: number;
          try {
            plain = native.open(layer, bytes, PLAIN);
          } catch (err) {
            socket.destroy(err as Error);
            return false;
          }
          if (plain > 0) read(PLAIN.subarray(0, plain));
          return true;
        }
        // Before the switch: node:tls gets whole records only, so that none is left half in it.
        const [records, rest] = wholeRecords(Buffer.concat([partial, bytes]));
        partial = Buffer.from(rest);
        for (const r of records) {
          const copy = Buffer.from(r);
          serverRecords.push(copy);
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
        clientRecords.push(...wholeRecords(chunk)[0].map((r) => Buffer.from(r)));
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
    const suite = SUITES[tls.getCipher()?.standardName ?? ""];
    const client = secrets.get("CLIENT_TRAFFIC_SECRET_0");
    const server = secrets.get("SERVER_TRAFFIC_SECRET_0");
    /** node:tls carries this connection, through the tap. */
    const viaNode = (): void => {
      socket.write = ((chunk: unknown, ...rest: unknown[]) => (tls.write as (c: unknown, ...r: unknown[]) => boolean).call(tls, chunk, ...rest)) as Socket["write"];
      tls.on("data", (chunk: Buffer) => read(chunk));
      tls.on("end", () => socket.end());
      ready();
    };
    if (tls.getProtocol() !== "TLSv1.3" || suite === undefined || client === undefined || server === undefined) {
      // The origin's next connections skip the tap.
      e.sealed = false;
      viaNode();
      return;
    }
    // node:tls writes the client's Finished just after secureConnect: the switch waits until it went out.
    const handshakeSecret = secrets.get("CLIENT_HANDSHAKE_TRAFFIC_SECRET");
    const h = handshakeSecret && trafficKeys(suite, handshakeSecret);
    let waits = 0;
    const switchOver = (): void => {
      if (socket.destroyed) return;
      if (h === undefined) return viaNode();
      if (countUnder(suite.cipher, h.key, h.iv, clientRecords) === 0) {
        if (waits++ < 10) setImmediate(switchOver);
        else viaNode();
        return;
      }
      const c = trafficKeys(suite, client);
      const s = trafficKeys(suite, server);
      const clientSeq = countUnder(suite.cipher, c.key, c.iv, clientRecords);
      const serverSeq = countUnder(suite.cipher, s.key, s.iv, serverRecords);
      const sealed = native.create(suite.id, c.key, c.iv, clientSeq, s.key, s.iv, serverSeq);
      layer = sealed;
      socket.write = ((plain: Buffer, ...rest: unknown[]) => {
        const out = Buffer.allocUnsafe(sealedLength(plain.length));
        native.seal(sealed, plain, out);
        return (rawWrite as (this: Socket, c: Uint8Array, ...r: unknown[]) => boolean).call(socket, out, ...rest);
      }) as Socket["write"];
      tls.removeAllListeners("error");
      tls.on("error", () => undefined);
      tls.destroy();
      serverRecords.length = 0;
      clientRecords.length = 0;
      // Bytes after the last whole record handed to node:tls are the first the layer opens.
      const rest = partial;
      partial = Buffer.alloc(0);
      if (rest.length > 0) {
        try {
          const plain = native.open(sealed, rest, PLAIN);
          if (plain > 0) read(PLAIN.subarray(0, plain));
        } catch (err) {
          socket.destroy(err as Error);
          return;
        }
      }
      ready();
    };
    setImmediate(switchOver);
  });
  return socket;
}
