/**
 * TLS 1.3 application records sealed and opened with node:crypto (RFC 8446 §5.2-5.3), written
 * apart from driver/transport/tls-record.ts so that its tests check the native record layer
 * against a second implementation; and a man-in-the-middle TCP proxy that knows a node server's
 * traffic secrets (its 'keylog' lines) and so can slip records of its own (a NewSessionTicket,
 * a KeyUpdate, an alert, garbage) into what the server sends, re-sealing the server's later
 * records at their shifted sequence numbers.
 */
import { createCipheriv, createDecipheriv, type CipherGCMTypes } from "node:crypto";
import { createServer, connect, type Server, type Socket } from "node:net";
import type { Server as TlsServer } from "node:tls";
import { trafficKeys } from "../driver/transport/tls-keys.js";

/** A TLS 1.3 suite: its number in native/tls-record.c's create(), node's cipher, the hash, the key length. */
export interface Suite {
  name: string;
  id: number;
  cipher: string;
  hash: string;
  keyLength: number;
}

/** The three TLS 1.3 AEAD suites (RFC 8446 §B.4). */
export const SUITES: readonly Suite[] = [
  { name: "TLS_AES_128_GCM_SHA256", id: 0, cipher: "aes-128-gcm", hash: "sha256", keyLength: 16 },
  { name: "TLS_AES_256_GCM_SHA384", id: 1, cipher: "aes-256-gcm", hash: "sha384", keyLength: 32 },
  { name: "TLS_CHACHA20_POLY1305_SHA256", id: 2, cipher: "chacha20-poly1305", hash: "sha256", keyLength: 32 },
];

/** A traffic key and IV. */
export interface Keys {
  key: Buffer;
  iv: Buffer;
}

/** The per-record nonce: the IV xor the 64-bit sequence number, right-aligned (RFC 8446 §5.3). */
function nonceAt(iv: Buffer, seq: number): Buffer {
  const n = Buffer.from(iv);
  const s = Buffer.alloc(8);
  s.writeBigUInt64BE(BigInt(seq));
  for (let i = 0; i < 8; i++) n[4 + i] = n[4 + i]! ^ s[i]!;
  return n;
}

/** One record whose TLSInnerPlaintext (content, type, padding) is `inner`, sealed at `seq`. */
export function sealInner(cipher: string, k: Keys, seq: number, inner: Buffer): Buffer {
  const head = Buffer.from([23, 3, 3, 0, 0]);
  head.writeUInt16BE(inner.length + 16, 3);
  const c = createCipheriv(cipher as CipherGCMTypes, k.key, nonceAt(k.iv, seq), { authTagLength: 16 });
  c.setAAD(head, { plaintextLength: inner.length });
  return Buffer.concat([head, c.update(inner), c.final(), c.getAuthTag()]);
}

/** A record of `content` with content type `type` and `padding` zero bytes, sealed at `seq`. */
export function seal(cipher: string, k: Keys, seq: number, content: Buffer, type = 23, padding = 0): Buffer {
  return sealInner(cipher, k, seq, Buffer.concat([content, Buffer.from([type]), Buffer.alloc(padding)]));
}

/** The TLSInnerPlaintext of one whole record opened at `seq`, or undefined when it does not open. */
export function openInner(cipher: string, k: Keys, seq: number, record: Buffer): Buffer | undefined {
  if (record.length < 5 + 17) return undefined;
  try {
    const d = createDecipheriv(cipher as CipherGCMTypes, k.key, nonceAt(k.iv, seq), { authTagLength: 16 });
    d.setAAD(record.subarray(0, 5), { plaintextLength: record.length - 21 });
    d.setAuthTag(record.subarray(record.length - 16));
    return Buffer.concat([d.update(record.subarray(5, record.length - 16)), d.final()]);
  } catch {
    return undefined;
  }
}

/** The application data of consecutive records from `seq` on (all application_data, whole). */
export function openAll(cipher: string, k: Keys, seq: number, bytes: Buffer): Buffer {
  const out: Buffer[] = [];
  for (const r of splitRecords(bytes).records) {
    const inner = openInner(cipher, k, seq++, r);
    if (inner === undefined) throw new Error(`record ${seq - 1} does not open`);
    let end = inner.length;
    while (inner[end - 1] === 0) end--;
    if (inner[end - 1] !== 23) throw new Error(`record ${seq - 1} has content type ${inner[end - 1]}`);
    out.push(inner.subarray(0, end - 1));
  }
  return Buffer.concat(out);
}

/** The whole records at the front of `bytes`, and what is left. */
export function splitRecords(bytes: Buffer): { records: Buffer[]; rest: Buffer } {
  const records: Buffer[] = [];
  let at = 0;
  while (bytes.length - at >= 5 && bytes.length - at >= 5 + bytes.readUInt16BE(at + 3)) {
    const end = at + 5 + bytes.readUInt16BE(at + 3);
    records.push(bytes.subarray(at, end));
    at = end;
  }
  return { records, rest: bytes.subarray(at) };
}

/** A proxy between one client and a TLS 1.3 node server, that can speak for the server. */
export interface Mitm {
  port: number;
  /** NewSessionTicket messages the server sent (read under its traffic key). */
  tickets: number;
  /** Application records the server sent, as the proxy read them. */
  serverRecords: number;
  /** Sends a record of `content` (content type `type`) to the client as the server, at the next sequence number. */
  inject(type: number, content: Buffer): void;
  /** Like {@link inject}, but just after the server's next application record, in the same write. */
  injectAfterNext(type: number, content: Buffer): void;
  /** Sends `bytes` to the client as they are. */
  injectRaw(bytes: Buffer): void;
  close(): Promise<void>;
}

/**
 * A proxy on 127.0.0.1 to `server` (listening on `serverPort`), for one client connection at a
 * time; the server's 'keylog' gives it the server's application traffic secret.
 */
export async function startMitm(server: TlsServer, serverPort: number): Promise<Mitm> {
  const secrets = new Map<string, Buffer>();
  server.on("keylog", (line: Buffer) => {
    const [label, , hex] = line.toString("latin1").trim().split(" ");
    if (label && hex) secrets.set(label, Buffer.from(hex, "hex"));
  });
  let suite: Suite | undefined;
  server.on("secureConnection", (s) => {
    suite = SUITES.find((x) => x.name === s.getCipher().standardName);
  });
  let toClient: Socket | undefined;
  let keys: Keys | undefined;
  let seq = 0;
  let shift = 0;
  /** Records to send right after the server's next one, in the same write. */
  let after: { type: number; content: Buffer }[] = [];
  const sockets = new Set<Socket>();
  const proxy: Server = createServer((client) => {
    toClient = client;
    keys = undefined;
    seq = 0;
    shift = 0;
    after = [];
    const upstream = connect(serverPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    client.pipe(upstream);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    let pending = Buffer.alloc(0);
    upstream.on("data", (chunk: Buffer) => {
      const { records, rest } = splitRecords(Buffer.concat([pending, chunk]));
      pending = Buffer.from(rest);
      for (const r of records) client.write(relay(r));
    });
  });
  /** A server record as the client gets it: re-sealed after what was injected. */
  const relay = (r: Buffer): Buffer => {
    const secret = secrets.get("SERVER_TRAFFIC_SECRET_0");
    if (keys === undefined && secret !== undefined && suite !== undefined) keys = trafficKeys(suite, secret);
    const inner = keys && r[0] === 23 ? openInner(suite!.cipher, keys, seq, r) : undefined;
    if (inner === undefined) return r;
    m.serverRecords++;
    let end = inner.length;
    while (inner[end - 1] === 0) end--;
    if (inner[end - 1] === 22 && inner[0] === 4) m.tickets++;
    const relayed = sealInner(suite!.cipher, keys!, shift + seq++, inner);
    const extra = after.splice(0).map((x) => seal(suite!.cipher, keys!, seq + shift++, x.content, x.type));
    return Buffer.concat([relayed, ...extra]);
  };
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  const m: Mitm = {
    port: (proxy.address() as { port: number }).port,
    tickets: 0,
    serverRecords: 0,
    inject(type, content) {
      if (keys === undefined || toClient === undefined) throw new Error("mitm: no server traffic key yet");
      toClient.write(seal(suite!.cipher, keys, seq + shift++, content, type));
    },
    injectAfterNext(type, content) {
      after.push({ type, content });
    },
    injectRaw(bytes) {
      if (toClient === undefined) throw new Error("mitm: no client yet");
      toClient.write(bytes);
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => proxy.close(r));
    },
  };
  return m;
}
