/**
 * The native TLS 1.3 record layer of the fast path's https connections (tls-record.ts,
 * native/tls-record.c): its key schedule against RFC 8448's example handshake, its records against
 * RFC 8448's wire bytes and against node:crypto both ways (test/tls13-records.ts), how it frames,
 * skips and fails, and `dial` end to end against node https servers that speak only TLS 1.3, some
 * behind a proxy that speaks for the server (a NewSessionTicket, a KeyUpdate, garbage).
 */
import { randomBytes } from "node:crypto";
import { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { describe, expect, it } from "vitest";
import { body, getSizes, SIZES, useTlsTargets, type Conn, type Target } from "../../test/tls-targets.js";
import { openAll, openInner, seal, sealInner, SUITES, type Keys, type Mitm, type Suite } from "../../test/tls13-records.js";
import { errorKind } from "./error-kind.js";
import { countUnder, expandLabel, sealRecord, suiteOf, trafficKeys } from "./tls-keys.js";
import { nativeRecordLayer, sealedLength } from "./tls-record.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** RFC 8448 §3 (Simple 1-RTT Handshake, TLS_AES_128_GCM_SHA256): secrets, keys and records as the RFC prints them. */
const RFC = {
  serverHsSecret: hex("b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38"),
  serverHsKey: hex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc"),
  serverHsIv: hex("5d 31 3e b2 67 12 76 ee 13 00 0b 30"),
  serverFinishedKey: hex("00 8d 3b 66 f8 16 ea 55 9f 96 b5 37 e8 85 c3 1f c0 68 bf 49 2c 65 2f 01 f2 88 a1 d8 cd c1 9f c8"),
  clientHsSecret: hex("b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21"),
  clientHsKey: hex("db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01"),
  clientHsIv: hex("5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f"),
  serverApSecret: hex("a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43"),
  serverApKey: hex("9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56"),
  serverApIv: hex("cf 78 2b 88 dd 83 54 9a ad f1 e9 84"),
  clientApSecret: hex("9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5"),
  clientApKey: hex("17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51"),
  clientApIv: hex("5b 78 92 3d ee 08 57 90 33 e5 23 d9"),
  /** {client} send handshake record: the client's Finished, under its handshake key. */
  clientFinished: hex(`17 03 03 00 35 75 ec 4d c2 38 cc e6 0b 29 80 44 a7 1e 21 9c 56 cc 77 b0
    51 7f e9 b9 3c 7a 4b fc 44 d8 7f 38 f8 03 38 ac 98 fc 46 de b3 84 bd 1c ae ac ab 68 67 d7 26 c4 05 46`),
  /** {server} send handshake record: the NewSessionTicket, the server's first record under its application key. */
  ticket: hex(`17 03 03 00 de 3a 6b 8f 90 41 4a 97 d6 95 9c 34 87 68 0d e5 13 4a 2b 24
    0e 6c ff ac 11 6e 95 d4 1d 6a f8 f6 b5 80 dc f3 d1 1d 63 c7 58 db 28 9a 01 59 40 25 2f 55 71 3e 06 1d c1 3e 07 88 91 a3 8e fb cf 57 53 ad 8e f1
    70 ad 3c 73 53 d1 6d 9d a7 73 b9 ca 7f 2b 9f a1 b6 c0 d4 a3 d0 3f 75 e0 9c 30 ba 1e 62 97 2a c4 6f 75 f7 b9 81 be 63 43 9b 29 99 ce 13 06 46 15
    13 98 91 d5 e4 c5 b4 06 f1 6e 3f c1 81 a7 7c a4 75 84 00 25 db 2f 0a 77 f8 1b 5a b0 5b 94 c0 13 46 75 5f 69 23 2c 86 51 9d 86 cb ee ac 87 aa c3
    47 d1 43 f9 60 5d 64 f6 50 db 4d 02 3e 70 e9 52 ca 49 fe 51 37 12 1c 74 bc 26 97 68 7e 24 87 46 d6 df 35 30 05 f3 bc e1 86 96 12 9c 81 53 55 6b
    3b 6c 67 79 b3 7b f1 59 85 68 4f`),
  /** {client} send application_data record: payload 00 01 02 … 31. */
  clientData: hex(`17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea
    42 f9 14 aa 66 bc ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4`),
  /** {server} send application_data record: the same payload, the server's second record. */
  serverData: hex(`17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc
    32 25 d0 5f 82 aa 1b 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d`),
  /** {client} / {server} send alert record: close_notify. */
  clientAlert: hex("17 03 03 00 13 c9 87 27 60 65 56 66 b7 4d 7f f1 15 3e fd 6d b6 d0 b0 e3"),
  serverAlert: hex("17 03 03 00 13 b5 8f d6 71 66 eb f5 99 d2 47 20 cf be 7e fa 7a 88 64 a9"),
  payload: Buffer.from(Array.from({ length: 0x32 }, (_, i) => i)),
};

const sha256Aes128 = { hash: "sha256", keyLength: 16 };

describe("the TLS 1.3 key schedule and records, against RFC 8448 §3", () => {
  it("derives each traffic secret's key and IV (HKDF-Expand-Label) as the RFC does", () => {
    expect(trafficKeys(sha256Aes128, RFC.serverHsSecret)).toEqual({ key: RFC.serverHsKey, iv: RFC.serverHsIv });
    expect(trafficKeys(sha256Aes128, RFC.clientHsSecret)).toEqual({ key: RFC.clientHsKey, iv: RFC.clientHsIv });
    expect(trafficKeys(sha256Aes128, RFC.serverApSecret)).toEqual({ key: RFC.serverApKey, iv: RFC.serverApIv });
    expect(trafficKeys(sha256Aes128, RFC.clientApSecret)).toEqual({ key: RFC.clientApKey, iv: RFC.clientApIv });
    // A 32-byte label ("finished") checks the length field of HkdfLabel too.
    expect(expandLabel("sha256", RFC.serverHsSecret, "finished", 32)).toEqual(RFC.serverFinishedKey);
  });

  it("sealRecord makes the RFC's records, and countUnder counts the records under each key", () => {
    const c: Keys = { key: RFC.clientApKey, iv: RFC.clientApIv };
    const s: Keys = { key: RFC.serverApKey, iv: RFC.serverApIv };
    expect(sealRecord("aes-128-gcm", c.key, c.iv, 0, RFC.payload)).toEqual(RFC.clientData);
    // The server's data is its second record under that key (the ticket went first).
    expect(sealRecord("aes-128-gcm", s.key, s.iv, 1, RFC.payload)).toEqual(RFC.serverData);
    expect(sealRecord("aes-128-gcm", s.key, s.iv, 2, Buffer.from([1, 0]), 21)).toEqual(RFC.serverAlert);
    expect(countUnder("aes-128-gcm", RFC.clientHsKey, RFC.clientHsIv, [RFC.clientFinished, RFC.clientData])).toBe(1);
    expect(countUnder("aes-128-gcm", c.key, c.iv, [RFC.clientFinished, RFC.clientData, RFC.clientAlert])).toBe(2);
    expect(countUnder("aes-128-gcm", s.key, s.iv, [RFC.ticket, RFC.serverData, RFC.serverAlert])).toBe(3);
    expect(countUnder("aes-128-gcm", RFC.serverHsKey, RFC.serverHsIv, [RFC.ticket, RFC.serverData])).toBe(0);
  });

  it("the native layer seals the RFC's client record and opens the server's: ticket skipped, data, then close_notify", () => {
    const native = requireNative();
    const client = native.create(13, 0, RFC.clientApKey, RFC.clientApIv, 0, RFC.serverApKey, RFC.serverApIv, 0);
    const out = Buffer.alloc(sealedLength(RFC.payload.length));
    expect(native.seal(client, RFC.payload, out)).toBe(RFC.clientData.length);
    expect(out.subarray(0, RFC.clientData.length)).toEqual(RFC.clientData);
    const plain = Buffer.alloc(1024);
    expect(native.open(client, RFC.ticket, plain)).toBe(0);
    expect(native.open(client, RFC.serverData, plain)).toBe(RFC.payload.length);
    expect(plain.subarray(0, RFC.payload.length)).toEqual(RFC.payload);
    expect(native.open(client, RFC.serverAlert, plain)).toBe(-1);
    expect(native.open(client, RFC.serverData, plain)).toBe(-1);
    // The server's side, its sequence numbers given: the data and the alert in one read (the data,
    // and the end: -1 - its length).
    const server = native.create(13, 0, RFC.serverApKey, RFC.serverApIv, 1, RFC.clientApKey, RFC.clientApIv, 0);
    expect(native.seal(server, RFC.payload, out)).toBe(RFC.serverData.length);
    expect(out.subarray(0, RFC.serverData.length)).toEqual(RFC.serverData);
    expect(native.open(server, Buffer.concat([RFC.clientData, RFC.clientAlert]), plain)).toBe(-1 - RFC.payload.length);
    expect(plain.subarray(0, RFC.payload.length)).toEqual(RFC.payload);
    expect(native.open(server, RFC.clientData, plain)).toBe(-1);
  });
});

/**
 * A NewSessionTicket handshake message (RFC 8446 §4.6.1): lifetime 7200 s, a random age_add, a
 * one-byte nonce, a 16-byte ticket, no extensions. Well formed: node:tls takes it too.
 */
function ticketMessage(): Buffer {
  const body = Buffer.concat([Buffer.from([0, 0, 0x1c, 0x20]), randomBytes(4), Buffer.from([1, 7, 0, 16]), randomBytes(16), Buffer.from([0, 0])]);
  return Buffer.concat([Buffer.from([4, 0, 0, body.length]), body]);
}

/** The native layer; fails the test when it was not built (so these tests cannot pass without it). */
function requireNative(): NonNullable<typeof nativeRecordLayer> {
  if (nativeRecordLayer === undefined) throw new Error("native/build/tls-record.node is not loaded: build it with `node scripts/build-native.mjs` (and leave KANNON_NODE_TLS unset)");
  return nativeRecordLayer;
}

/** Fresh random keys for both directions of `suite`, a native layer as the client, and helpers. */
function pair(suite: Suite) {
  const native = requireNative();
  const mine: Keys = { key: randomBytes(suite.keyLength), iv: randomBytes(12) };
  const theirs: Keys = { key: randomBytes(suite.keyLength), iv: randomBytes(12) };
  const layer = native.create(13, suite.id, mine.key, mine.iv, 0, theirs.key, theirs.iv, 0);
  const sealNative = (plain: Buffer): Buffer => {
    const out = Buffer.alloc(sealedLength(plain.length));
    const n = native.seal(layer, plain, out);
    // TLS 1.3: per record a head, the content type and a tag.
    expect(n).toBe(plain.length + Math.max(1, Math.ceil(plain.length / 16_384)) * 22);
    return out.subarray(0, n);
  };
  /** Opens `bytes` natively: the plaintext, or -1 (ended: the data before the end, if any, is in `ended`). */
  let ended: Buffer | undefined;
  const openNative = (bytes: Buffer): Buffer | -1 => {
    const out = Buffer.alloc(bytes.length + 17 * 1024);
    const n = native.open(layer, bytes, out);
    if (n >= 0) return Buffer.from(out.subarray(0, n));
    ended = Buffer.from(out.subarray(0, -1 - n));
    return -1;
  };
  const thrown = (bytes: Buffer): unknown => {
    try {
      openNative(bytes);
    } catch (err) {
      return err;
    }
    throw new Error("open did not throw");
  };
  return { mine, theirs, sealNative, openNative, thrown, ended: () => ended };
}

describe.each(SUITES)("the native record layer with $name, against node:crypto", (suite) => {
  it("is the suite suiteOf names, with the cipher number native/tls-record.c's create() documents", () => {
    expect(suiteOf(suite.name)).toEqual({ id: suite.id, cipher: suite.cipher, hash: suite.hash, keyLength: suite.keyLength });
  });

  it("seals records that node opens, at consecutive sequence numbers, a plaintext over 16 KiB in several records", () => {
    const { mine, sealNative } = pair(suite);
    const small = randomBytes(100);
    const big = randomBytes(40_000);
    const sealedSmall = sealNative(small);
    const sealedBig = sealNative(big);
    expect(sealedBig.length).toBe(40_000 + 3 * 22);
    expect(openAll(suite.cipher, mine, 0, sealedSmall)).toEqual(small);
    expect(openAll(suite.cipher, mine, 1, sealedBig)).toEqual(big);
    // The first of them does not open at another sequence number.
    expect(openInner(suite.cipher, mine, 1, sealedSmall)).toBeUndefined();
  });

  it("opens what node seals, split anywhere: byte by byte, several records in one read, padded", () => {
    const { theirs, openNative } = pair(suite);
    const parts = [randomBytes(1), randomBytes(16_384), randomBytes(3000), randomBytes(0), randomBytes(70)];
    const wire = Buffer.concat(parts.map((p, i) => seal(suite.cipher, theirs, i, p, 23, i === 2 ? 200 : 0)));
    // The first two records a byte at a time.
    const firstTwo = 2 * 22 + 1 + 16_384;
    const got: Buffer[] = [];
    for (let i = 0; i < firstTwo; i++) {
      const plain = openNative(wire.subarray(i, i + 1));
      expect(plain).not.toBe(-1);
      got.push(plain as Buffer);
    }
    expect(Buffer.concat(got)).toEqual(Buffer.concat(parts.slice(0, 2)));
    // The other three in one read.
    expect(openNative(wire.subarray(firstTwo))).toEqual(Buffer.concat(parts.slice(2)));
  });

  it("skips new session tickets, even two in one record, and returns -1 from a close_notify on", () => {
    const { theirs, openNative } = pair(suite);
    const ticket = ticketMessage();
    const data = randomBytes(500);
    const wire = Buffer.concat([
      seal(suite.cipher, theirs, 0, ticket, 22),
      seal(suite.cipher, theirs, 1, Buffer.concat([ticket, ticket]), 22),
      seal(suite.cipher, theirs, 2, data),
    ]);
    expect(openNative(wire)).toEqual(data);
    expect(openNative(seal(suite.cipher, theirs, 3, Buffer.from([1, 0]), 21))).toBe(-1);
    expect(openNative(seal(suite.cipher, theirs, 4, data))).toBe(-1);
  });

  it("follows handshake messages split over records (RFC 8446 §5.1): a ticket cut inside its header and its body, then a KeyUpdate cut after its type", () => {
    const { theirs, openNative, thrown } = pair(suite);
    const ticket = ticketMessage();
    const data = randomBytes(100);
    const pieces = [ticket.subarray(0, 2), ticket.subarray(2, 9), ticket.subarray(9)];
    const wire = Buffer.concat([...pieces.map((p, i) => seal(suite.cipher, theirs, i, p, 22)), seal(suite.cipher, theirs, 3, data)]);
    expect(openNative(wire)).toEqual(data);
    const keyUpdate = Buffer.from([24, 0, 0, 1, 0]);
    expect(openNative(seal(suite.cipher, theirs, 4, keyUpdate.subarray(0, 1), 22))).toEqual(Buffer.alloc(0));
    expect(thrown(seal(suite.cipher, theirs, 5, keyUpdate.subarray(1), 22))).toMatchObject({ code: "ERR_TLS_KEY_UPDATE" });
  });

  it("data and a close_notify in one read: the data, then -1; data and a bad record: the data, then the error", () => {
    const data = randomBytes(300);
    const a = pair(suite);
    expect(a.openNative(Buffer.concat([seal(suite.cipher, a.theirs, 0, data), seal(suite.cipher, a.theirs, 1, Buffer.from([1, 0]), 21)]))).toBe(-1);
    expect(a.ended()).toEqual(data);
    expect(a.openNative(Buffer.alloc(0))).toBe(-1);
    expect(a.ended()).toEqual(Buffer.alloc(0));
    const b = pair(suite);
    const tampered = seal(suite.cipher, b.theirs, 1, randomBytes(64));
    tampered[20] = tampered[20]! ^ 1;
    expect(b.openNative(Buffer.concat([seal(suite.cipher, b.theirs, 0, data), tampered]))).toBe(-1);
    expect(b.ended()).toEqual(data);
    expect(b.thrown(Buffer.alloc(0))).toMatchObject({ code: "ERR_TLS_RECORD" });
  });

  it("throws ERR_TLS_RECORD for a tampered record, a wrong sequence number or a plaintext record; ERR_TLS_ALERT, ERR_TLS_KEY_UPDATE", () => {
    const fresh = () => pair(suite);
    const a = fresh();
    const tampered = seal(suite.cipher, a.theirs, 0, randomBytes(64));
    tampered[20] = tampered[20]! ^ 1;
    expect(a.thrown(tampered)).toMatchObject({ code: "ERR_TLS_RECORD" });
    const b = fresh();
    expect(b.thrown(seal(suite.cipher, b.theirs, 1, randomBytes(64)))).toMatchObject({ code: "ERR_TLS_RECORD" });
    const c = fresh();
    expect(c.thrown(Buffer.from([21, 3, 3, 0, 2, 2, 40]))).toMatchObject({ code: "ERR_TLS_RECORD" });
    const d = fresh();
    // A head announcing a record far longer than any TLS record may be: refused before its body arrives.
    expect(d.thrown(Buffer.concat([Buffer.from([23, 3, 3, 0xff, 0xff]), randomBytes(64)]))).toMatchObject({ code: "ERR_TLS_RECORD" });
    const e = fresh();
    expect(e.thrown(seal(suite.cipher, e.theirs, 0, Buffer.from([2, 40]), 21))).toMatchObject({ code: "ERR_TLS_ALERT" });
    const f = fresh();
    const keyUpdate = seal(suite.cipher, f.theirs, 0, Buffer.from([24, 0, 0, 1, 0]), 22);
    const err = f.thrown(keyUpdate);
    expect(err).toMatchObject({ code: "ERR_TLS_KEY_UPDATE" });
    expect(errorKind(err)).toBe("tls");
    // An inner plaintext of only padding has no content type.
    const g = fresh();
    expect(g.thrown(sealInner(suite.cipher, g.theirs, 0, Buffer.alloc(10)))).toMatchObject({ code: "ERR_TLS_RECORD" });
  });
});

// ---- end to end through dial ------------------------------------------------------------------

const { certs, target, open, mitm } = useTlsTargets();
const ca = () => ({ caPem: certs().ca.cert });

/** A connection to a TLS 1.3 target through a proxy that speaks for it, after one request (`/bytes/300`) and its answer. */
async function behindMitm(): Promise<{ t: Target; m: Mitm; c: Conn }> {
  const t = await target();
  const m = await mitm(t);
  const c = open(m.port, ca());
  await c.ready;
  c.get("/bytes/300");
  expect((await c.next()).body.equals(body(300))).toBe(true);
  return { t, m, c };
}

describe("dial over the native record layer, against TLS 1.3 node servers", () => {
  it.each(SUITES)("$name: many keep-alive requests on one connection, sealed and opened natively (not by a TLSSocket)", async (suite) => {
    const t = await target({ ciphers: suite.name });
    const m = await mitm(t);
    const c = open(m.port, ca());
    await c.ready;
    // The connection is the TCP socket itself: node's TLS socket was dropped after the handshake.
    expect(c.socket).toBeInstanceOf(Socket);
    expect(c.socket).not.toBeInstanceOf(TLSSocket);
    expect(c.handshakes).toHaveLength(1);
    await getSizes(c);
    expect(t.sessions).toBe(1);
    expect(t.requests).toBe(SIZES.length + 5);
    expect(t.negotiated).toEqual([`TLSv1.3 ${suite.name}`]);
    // node's server sends its session tickets after the handshake: the client got them and went on.
    expect(m.tickets).toBeGreaterThan(0);
    expect(c.endpoint.sealed).not.toBe(false);
  });

  it("skips a NewSessionTicket the target sends between responses", async () => {
    const { t, c, m } = await behindMitm();
    const ticketsBefore = m.tickets;
    const recordsBefore = m.serverRecords;
    m.inject(22, ticketMessage());
    for (const n of [10, 20_000, 7]) {
      c.get(`/bytes/${n}`);
      expect((await c.next()).body.equals(body(n))).toBe(true);
    }
    // The server's own records came after the injected one: re-sealed one sequence number on.
    expect(m.serverRecords).toBeGreaterThanOrEqual(recordsBefore + 3);
    expect(m.tickets).toBe(ticketsBefore);
    expect(t.requests).toBe(4);
  });

  it("fails the connection on a KeyUpdate (ERR_TLS_KEY_UPDATE, the tls kind), which node:tls would follow", async () => {
    const { c, m } = await behindMitm();
    m.inject(22, Buffer.from([24, 0, 0, 1, 0]));
    c.get("/bytes/10");
    await expect(c.next()).rejects.toMatchObject({ code: "ERR_TLS_KEY_UPDATE" });
    const err = await c.closed;
    expect(errorKind(err)).toBe("tls");
  });

  it("fails the connection with ERR_TLS_RECORD (the tls kind) when garbage follows the handshake", async () => {
    const { c, m } = await behindMitm();
    m.injectRaw(Buffer.concat([Buffer.from([23, 3, 3, 0, 40]), randomBytes(40)]));
    const err = await c.closed;
    expect(err).toMatchObject({ code: "ERR_TLS_RECORD" });
    expect(errorKind(err)).toBe("tls");
  });

  it("mutual TLS: presents the client certificate, then switches to the native layer", async () => {
    const t = await target({ ca: certs().ca.cert, requestCert: true, rejectUnauthorized: true });
    const c = open(t.port, { caPem: certs().ca.cert, certPem: certs().client.cert, keyPem: certs().client.key });
    await c.ready;
    expect(c.socket).not.toBeInstanceOf(TLSSocket);
    for (const n of [1, 30_000, 2]) {
      c.get(`/bytes/${n}`);
      expect((await c.next()).body.equals(body(n))).toBe(true);
    }
    expect(t.clientCerts).toEqual(["kannon-client"]);
  });

  it("a certificate that does not verify fails the connection as tls_verify before it is ready", async () => {
    const t = await target({ key: certs().untrusted.key, cert: certs().untrusted.cert });
    const c = open(t.port, ca());
    const err = await c.ready.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(errorKind(err)).toBe("tls_verify");
    expect(c.handshakes).toEqual([]);
    const wrongName = open((await target()).port, { caPem: certs().ca.cert, servername: "not-in-the-cert.test" });
    expect(errorKind(await wrongName.closed)).toBe("tls_verify");
    expect(t.requests).toBe(0);
  });

  it.each([
    ["TLS 1.3", {}],
    ["TLS 1.2", { minVersion: "TLSv1.2", maxVersion: "TLSv1.2" }],
  ] as const)("the target closing an idle connection (keep-alive timeout: close_notify, FIN) closes it with no error, over %s", async (_, versions) => {
    const t = await target(versions);
    t.server.keepAliveTimeout = 200;
    const c = open(t.port, ca());
    await c.ready;
    c.get("/bytes/1000");
    expect((await c.next()).body.equals(body(1000))).toBe(true);
    expect(await c.closed).toBeUndefined();
    // It was the native layer's (node:tls's would be a TLSSocket or mark the endpoint).
    expect(c.socket).not.toBeInstanceOf(TLSSocket);
    expect(c.endpoint.sealed).not.toBe(false);
  });

  it("a close_notify just after a response, in the same read: the response, then the end of the connection", async () => {
    const { c, m } = await behindMitm();
    m.injectAfterNext(21, Buffer.from([1, 0]));
    c.get("/bytes/10");
    expect((await c.next()).body.equals(body(10))).toBe(true);
    expect(await Promise.race([c.closed, new Promise((r) => setTimeout(() => r("still open after 2 s"), 2000))])).toBeUndefined();
  });

  it("a record that fails just after a response, in the same read: the response, then the connection fails as tls", async () => {
    const { c, m } = await behindMitm();
    // A handshake message of type 0 (TLS 1.2's HelloRequest) has no place after a TLS 1.3 handshake.
    m.injectAfterNext(22, Buffer.from([0, 0, 0, 0]));
    c.get("/bytes/10");
    expect((await c.next()).body.equals(body(10))).toBe(true);
    const err = await c.closed;
    expect(err).toMatchObject({ code: "ERR_TLS_RECORD" });
    expect(errorKind(err)).toBe("tls");
  });

  it("a close_notify from the target ends the connection with no error, though its TCP connection stays open", async () => {
    const { c, m } = await behindMitm();
    m.inject(21, Buffer.from([1, 0]));
    expect(await Promise.race([c.closed, new Promise((r) => setTimeout(() => r("still open after 2 s"), 2000))])).toBeUndefined();
  });
});
