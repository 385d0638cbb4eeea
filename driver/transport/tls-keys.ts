/**
 * The keys and sequence numbers of an established TLS connection's records, for the native record
 * layer that carries them after node:tls's handshake (tls-record.ts): derived from the secrets
 * node:tls logs ('keylog', the NSS key log format) and from the handshake's records as they passed
 * on the wire. TLS 1.3 (RFC 8446 §7.1-7.3) and TLS 1.2's AEAD suites (RFC 5246 §5 and §6.3,
 * RFC 5288, RFC 7905), with AES-128-GCM, AES-256-GCM or ChaCha20-Poly1305.
 */
import { createCipheriv, createDecipheriv, createHmac, type CipherGCMTypes } from "node:crypto";

/** A suite the native layer carries: its cipher number there, node:crypto's cipher name, the hash, the key length. */
export interface Suite {
  id: number;
  cipher: string;
  hash: string;
  keyLength: number;
}

const CIPHERS: Record<string, Omit<Suite, "hash">> = {
  AES_128_GCM: { id: 0, cipher: "aes-128-gcm", keyLength: 16 },
  AES_256_GCM: { id: 1, cipher: "aes-256-gcm", keyLength: 32 },
  CHACHA20_POLY1305: { id: 2, cipher: "chacha20-poly1305", keyLength: 32 },
};

/** The suite of a negotiated cipher's standard name (TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, …), or undefined. */
export function suiteOf(standardName: string): Suite | undefined {
  const m = /^TLS_(?:.*_WITH_)?(AES_128_GCM|AES_256_GCM|CHACHA20_POLY1305)_(SHA256|SHA384)$/.exec(standardName);
  return m ? { ...CIPHERS[m[1]!]!, hash: m[2]!.toLowerCase() } : undefined;
}

const HEAD = 5;
const TAG = 16;
const CHANGE_CIPHER_SPEC = 20;
const HANDSHAKE = 22;
const APPLICATION_DATA = 23;

/** HKDF-Expand-Label(secret, label, "", length) (RFC 8446 §7.1), for length ≤ the hash's size. */
export function expandLabel(hash: string, secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, "latin1");
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0, 1])]);
  return createHmac(hash, secret).update(info).digest().subarray(0, length);
}

/** A TLS 1.3 traffic secret's key and IV (RFC 8446 §7.3). */
export function trafficKeys(suite: { hash: string; keyLength: number }, secret: Buffer): { key: Buffer; iv: Buffer } {
  return { key: expandLabel(suite.hash, secret, "key", suite.keyLength), iv: expandLabel(suite.hash, secret, "iv", 12) };
}

/** TLS 1.2's PRF (RFC 5246 §5): P_hash(secret, label + seed), `length` bytes. */
export function prf(hash: string, secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, "latin1"), seed]);
  const out: Buffer[] = [];
  let a = labelSeed;
  let have = 0;
  while (have < length) {
    a = createHmac(hash, secret).update(a).digest();
    const block = createHmac(hash, secret).update(a).update(labelSeed).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

const nonceOf = (iv: Buffer, seq: number): Buffer => {
  const n = Buffer.from(iv);
  for (let i = 0; i < 6; i++) n[11 - i]! ^= Math.floor(seq / 2 ** (8 * i)) & 0xff;
  return n;
};

/** Whether TLS 1.3 `record` (head and body) decrypts under `key` at sequence number `seq`. */
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
 * How many of TLS 1.3 `records` were sealed under `key`: the sequence number of that side's next
 * record. Records under the handshake keys come first and do not open under it.
 */
export function countUnder(cipher: string, key: Buffer, iv: Buffer, records: readonly Buffer[]): number {
  let seq = 0;
  for (const r of records) if (r[0] === APPLICATION_DATA && opensAt(cipher, key, iv, seq, r)) seq++;
  return seq;
}

/** For tests: one TLS 1.3 record of `plain` with inner content `type` under `key` at `seq`, as a peer seals it. */
export function sealRecord(cipher: string, key: Buffer, iv: Buffer, seq: number, plain: Buffer, type = APPLICATION_DATA): Buffer {
  const inner = Buffer.concat([plain, Buffer.from([type])]);
  const head = Buffer.from([APPLICATION_DATA, 3, 3, (inner.length + TAG) >> 8, (inner.length + TAG) & 0xff]);
  const c = createCipheriv(cipher as CipherGCMTypes, key, nonceOf(iv, seq), { authTagLength: TAG });
  c.setAAD(head, { plaintextLength: inner.length });
  const body = Buffer.concat([c.update(inner), c.final()]);
  return Buffer.concat([head, body, c.getAuthTag()]);
}

/** One direction's key, IV (12 bytes; TLS 1.2 GCM: the 4-byte salt first) and next sequence number. */
export interface DirectionKeys {
  key: Buffer;
  iv: Buffer;
  seq: number;
}

/** What the native layer needs to carry a connection. */
export interface LayerKeys {
  version: 12 | 13;
  suite: Suite;
  client: DirectionKeys;
  server: DirectionKeys;
}

/** The 32-byte random of a ClientHello (1) or ServerHello (2) at the start of `record`, if it is there. */
function helloRandom(record: Buffer | undefined, type: number): Buffer | undefined {
  if (record === undefined || record[0] !== HANDSHAKE || record.length < HEAD + 4 + 2 + 32 || record[HEAD] !== type) return undefined;
  return record.subarray(HEAD + 4 + 2, HEAD + 4 + 2 + 32);
}

/** Records after the ChangeCipherSpec among `records` (the next sequence number), or undefined before it. */
function afterChangeCipherSpec(records: readonly Buffer[]): number | undefined {
  const at = records.findIndex((r) => r[0] === CHANGE_CIPHER_SPEC);
  return at < 0 ? undefined : records.length - at - 1;
}

/**
 * The keys of a connection node:tls has just finished the handshake of: `protocol` and `cipher` as
 * its getProtocol() and getCipher().standardName, `secrets` its key log by label (the line's last
 * field), the records each side sent so far. Undefined when the native layer cannot carry it
 * (another version or suite, a secret missing); "wait" while the client's Finished has not gone out
 * yet (node:tls writes it just after secureConnect in TLS 1.3).
 */
export function layerKeys(
  protocol: string | null,
  cipher: string,
  secrets: ReadonlyMap<string, Buffer>,
  clientRecords: readonly Buffer[],
  serverRecords: readonly Buffer[],
): LayerKeys | "wait" | undefined {
  const suite = suiteOf(cipher);
  if (suite === undefined) return undefined;
  if (protocol === "TLSv1.3") {
    const handshake = secrets.get("CLIENT_HANDSHAKE_TRAFFIC_SECRET");
    const client = secrets.get("CLIENT_TRAFFIC_SECRET_0");
    const server = secrets.get("SERVER_TRAFFIC_SECRET_0");
    if (!handshake || !client || !server) return undefined;
    const h = trafficKeys(suite, handshake);
    if (countUnder(suite.cipher, h.key, h.iv, clientRecords) === 0) return "wait";
    const c = trafficKeys(suite, client);
    const s = trafficKeys(suite, server);
    return {
      version: 13,
      suite,
      client: { ...c, seq: countUnder(suite.cipher, c.key, c.iv, clientRecords) },
      server: { ...s, seq: countUnder(suite.cipher, s.key, s.iv, serverRecords) },
    };
  }
  if (protocol !== "TLSv1.2") return undefined;
  const master = secrets.get("CLIENT_RANDOM");
  const clientRandom = helloRandom(clientRecords[0], 1);
  const serverRandom = helloRandom(serverRecords[0], 2);
  if (!master || !clientRandom || !serverRandom) return undefined;
  const clientSeq = afterChangeCipherSpec(clientRecords);
  const serverSeq = afterChangeCipherSpec(serverRecords);
  // The client's Finished (the first record after its ChangeCipherSpec) has gone out once it is there.
  if (clientSeq === undefined || clientSeq === 0) return "wait";
  if (serverSeq === undefined) return undefined;
  // GCM: a 4-byte salt per side (the rest of the nonce is in each record); ChaCha20: a 12-byte IV.
  const ivLength = suite.id === 2 ? 12 : 4;
  const k = suite.keyLength;
  const block = prf(suite.hash, master, "key expansion", Buffer.concat([serverRandom, clientRandom]), 2 * k + 2 * ivLength);
  const iv = (at: number) => Buffer.concat([block.subarray(at, at + ivLength), Buffer.alloc(12 - ivLength)]);
  return {
    version: 12,
    suite,
    client: { key: block.subarray(0, k), iv: iv(2 * k), seq: clientSeq },
    server: { key: block.subarray(k, 2 * k), iv: iv(2 * k + ivLength), seq: serverSeq },
  };
}
