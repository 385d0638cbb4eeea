/**
 * The native record layer with TLS 1.2's AEAD suites (tls-keys.ts, native/tls-record.c): the PRF
 * against its published test vector, records against node:crypto both ways (AES-GCM with its
 * explicit nonce, RFC 5288; ChaCha20-Poly1305 with the IV xor the sequence number, RFC 7905), and
 * `dial` end to end against node https servers that speak only TLS 1.2, with each suite; a CBC
 * suite stays on node:tls.
 */
import { createCipheriv, createDecipheriv, randomBytes, type CipherGCMTypes } from "node:crypto";
import { TLSSocket } from "node:tls";
import { describe, expect, it } from "vitest";
import { body, getSizes, SIZES, useTlsTargets } from "../../test/tls-targets.js";
import { SUITES, type Keys, type Suite } from "../../test/tls13-records.js";
import { errorKind } from "./error-kind.js";
import { prf } from "./tls-keys.js";
import { nativeRecordLayer, sealedLength } from "./tls-record.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("TLS 1.2 keys", () => {
  it("the PRF (P_SHA256) gives the published test vector", () => {
    // The TLS 1.2 PRF test vector posted to the IETF TLS working group (also in mbed TLS's self test).
    const out = prf("sha256", hex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35"), "test label", hex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c"), 100);
    expect(out).toEqual(
      hex(`e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a
        6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab
        4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff f7 01 87 34 7b 66`),
    );
  });
});

const gcm = (s: Suite) => s.id !== 2;
const be64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

/** The record nonce: the 4-byte salt and the explicit part (GCM), or the IV xor the sequence number (ChaCha20). */
function nonce12(s: Suite, iv: Buffer, seq: number, explicit: Buffer): Buffer {
  if (gcm(s)) return Buffer.concat([iv.subarray(0, 4), explicit]);
  const n = Buffer.from(iv);
  const q = be64(seq);
  for (let i = 0; i < 8; i++) n[4 + i] = n[4 + i]! ^ q[i]!;
  return n;
}

/** A TLS 1.2 record of `content` with outer type `type`, as a peer seals it (GCM: with the explicit nonce `explicit`). */
function seal12(s: Suite, k: Keys, seq: number, content: Buffer, type = 23, explicit = randomBytes(8)): Buffer {
  const c = createCipheriv(s.cipher as CipherGCMTypes, k.key, nonce12(s, k.iv, seq, explicit), { authTagLength: 16 });
  const aad = Buffer.concat([be64(seq), Buffer.from([type, 3, 3, content.length >> 8, content.length & 0xff])]);
  c.setAAD(aad, { plaintextLength: content.length });
  const sealed = Buffer.concat([...(gcm(s) ? [explicit] : []), c.update(content), c.final(), c.getAuthTag()]);
  return Buffer.concat([Buffer.from([type, 3, 3, sealed.length >> 8, sealed.length & 0xff]), sealed]);
}

/** The content of TLS 1.2 application records `bytes` (whole, consecutive from `seq`), opened with node:crypto. */
function open12(s: Suite, k: Keys, seq: number, bytes: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; seq++) {
    const end = at + 5 + bytes.readUInt16BE(at + 3);
    expect(bytes[at]).toBe(23);
    const explicit = gcm(s) ? bytes.subarray(at + 5, at + 13) : Buffer.alloc(0);
    const ct = bytes.subarray(at + 5 + explicit.length, end - 16);
    const d = createDecipheriv(s.cipher as CipherGCMTypes, k.key, nonce12(s, k.iv, seq, explicit), { authTagLength: 16 });
    d.setAAD(Buffer.concat([be64(seq), Buffer.from([23, 3, 3, ct.length >> 8, ct.length & 0xff])]), { plaintextLength: ct.length });
    d.setAuthTag(bytes.subarray(end - 16, end));
    out.push(d.update(ct), d.final());
    at = end;
  }
  return Buffer.concat(out);
}

/** A native TLS 1.2 layer with random keys (GCM: a 4-byte salt, the rest of the IV zero). */
function layer12(s: Suite) {
  if (nativeRecordLayer === undefined) throw new Error("native/build/tls-record.node is not loaded: build it with `node scripts/build-native.mjs` (and leave KANNON_NODE_TLS unset)");
  const native = nativeRecordLayer;
  const iv = () => (gcm(s) ? Buffer.concat([randomBytes(4), Buffer.alloc(8)]) : randomBytes(12));
  const mine: Keys = { key: randomBytes(s.keyLength), iv: iv() };
  const theirs: Keys = { key: randomBytes(s.keyLength), iv: iv() };
  const layer = native.create(12, s.id, mine.key, mine.iv, 5, theirs.key, theirs.iv, 7);
  return {
    mine,
    theirs,
    seal: (plain: Buffer): Buffer => {
      const out = Buffer.alloc(sealedLength(plain.length));
      return out.subarray(0, native.seal(layer, plain, out));
    },
    open: (bytes: Buffer): Buffer | -1 => {
      const out = Buffer.alloc(bytes.length + 17 * 1024);
      const n = native.open(layer, bytes, out);
      return n === -1 ? -1 : Buffer.from(out.subarray(0, n));
    },
  };
}

describe.each(SUITES)("the native record layer with TLS 1.2's $cipher, against node:crypto", (suite) => {
  it("seals records that node opens, from the sequence number given, a plaintext over 16 KiB in several records", () => {
    const l = layer12(suite);
    const small = randomBytes(10);
    const big = randomBytes(40_000);
    const sealed = Buffer.concat([l.seal(small), l.seal(big)]);
    expect(sealed.length).toBe(40_010 + 4 * (5 + (gcm(suite) ? 8 : 0) + 16));
    expect(open12(suite, l.mine, 5, sealed)).toEqual(Buffer.concat([small, big]));
  });

  it("opens what node seals (any explicit nonce), byte by byte and several records in one read; close_notify gives -1", () => {
    const l = layer12(suite);
    const parts = [randomBytes(3), randomBytes(16_384), randomBytes(0), randomBytes(999)];
    const wire = Buffer.concat(parts.map((p, i) => seal12(suite, l.theirs, 7 + i, p)));
    const firstTwo = 5 + 3 + 5 + 16_384 + 2 * ((gcm(suite) ? 8 : 0) + 16);
    const got: Buffer[] = [];
    for (let i = 0; i < firstTwo; i++) got.push(l.open(wire.subarray(i, i + 1)) as Buffer);
    expect(Buffer.concat(got)).toEqual(Buffer.concat(parts.slice(0, 2)));
    expect(l.open(wire.subarray(firstTwo))).toEqual(Buffer.concat(parts.slice(2)));
    expect(l.open(seal12(suite, l.theirs, 11, Buffer.from([1, 0]), 21))).toBe(-1);
    expect(l.open(seal12(suite, l.theirs, 12, randomBytes(5)))).toBe(-1);
  });

  it("throws ERR_TLS_RECORD for a tampered record, a wrong sequence number, a renegotiation or a ChangeCipherSpec; ERR_TLS_ALERT for an alert", () => {
    const thrown = (make: (theirs: Keys) => Buffer): unknown => {
      const l = layer12(suite);
      try {
        l.open(make(l.theirs));
      } catch (err) {
        return err;
      }
      throw new Error("open did not throw");
    };
    const tampered = (k: Keys) => {
      const r = seal12(suite, k, 7, randomBytes(40));
      r[r.length - 20] = r[r.length - 20]! ^ 1;
      return r;
    };
    expect(thrown(tampered)).toMatchObject({ code: "ERR_TLS_RECORD" });
    // The sequence number is in the additional data even where the nonce is explicit.
    expect(thrown((k) => seal12(suite, k, 8, randomBytes(40)))).toMatchObject({ code: "ERR_TLS_RECORD" });
    const helloRequest = thrown((k) => seal12(suite, k, 7, Buffer.from([0, 0, 0, 0]), 22));
    expect(helloRequest).toMatchObject({ code: "ERR_TLS_RECORD", message: expect.stringContaining("renegotiation") });
    expect(thrown((k) => seal12(suite, k, 7, Buffer.from([1]), 20))).toMatchObject({ code: "ERR_TLS_RECORD" });
    const handshakeFailure = thrown((k) => seal12(suite, k, 7, Buffer.from([2, 40]), 21));
    expect(handshakeFailure).toMatchObject({ code: "ERR_TLS_ALERT" });
    expect(errorKind(handshakeFailure)).toBe("tls");
  });
});

const { certs, target, open, mitm } = useTlsTargets();
const ca = () => ({ caPem: certs().ca.cert });
const tls12 = (ciphers: string) => ({ minVersion: "TLSv1.2", maxVersion: "TLSv1.2", ciphers }) as const;

describe("dial over the native record layer, against TLS 1.2 node servers", () => {
  it.each(["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"])(
    "%s: many keep-alive requests on one connection, sealed and opened natively",
    async (name) => {
      const t = await target(tls12(name));
      const c = open(t.port, ca());
      await c.ready;
      expect(c.socket).not.toBeInstanceOf(TLSSocket);
      await getSizes(c);
      expect(t.negotiated).toEqual([`TLSv1.2 ${name}`]);
      expect(t.requests).toBe(SIZES.length + 5);
      expect(c.handshakes).toHaveLength(1);
      // Not handed back to node:tls (which would mark the endpoint).
      expect(c.endpoint.sealed).not.toBe(false);
    },
  );

  it("a CBC suite stays on node:tls, and the origin's next connections go straight to it", async () => {
    const t = await target(tls12("ECDHE-ECDSA-AES128-SHA256"));
    const c = open(t.port, ca());
    await c.ready;
    for (const n of [10, 70_000]) {
      c.get(`/bytes/${n}`);
      expect((await c.next()).body.equals(body(n))).toBe(true);
    }
    expect(c.endpoint.sealed).toBe(false);
    const next = open(t.port, ca(), c.endpoint);
    await next.ready;
    expect(next.socket).toBeInstanceOf(TLSSocket);
    next.get("/bytes/3");
    expect((await next.next()).body.equals(body(3))).toBe(true);
    expect(t.negotiated).toEqual(["TLSv1.2 ECDHE-ECDSA-AES128-SHA256", "TLSv1.2 ECDHE-ECDSA-AES128-SHA256"]);
  });

  it("mutual TLS 1.2: presents the client certificate, then switches to the native layer", async () => {
    const t = await target({ ...tls12("ECDHE-ECDSA-AES128-GCM-SHA256"), ca: certs().ca.cert, requestCert: true, rejectUnauthorized: true });
    const c = open(t.port, { caPem: certs().ca.cert, certPem: certs().client.cert, keyPem: certs().client.key });
    await c.ready;
    c.get("/bytes/20000");
    expect((await c.next()).body.equals(body(20_000))).toBe(true);
    expect(t.clientCerts).toEqual(["kannon-client"]);
    expect(c.socket).not.toBeInstanceOf(TLSSocket);
    expect(c.endpoint.sealed).not.toBe(false);
  });

  it("a renegotiation the target starts fails the connection with ERR_TLS_RECORD (the tls kind)", async () => {
    const t = await target(tls12("ECDHE-ECDSA-AES256-GCM-SHA384"));
    const c = open(t.port, ca());
    await c.ready;
    c.get("/renegotiate");
    expect((await c.next()).status).toBe(200);
    // (node:tls would renegotiate and carry on.)
    const err = await Promise.race([c.closed, new Promise((r) => setTimeout(() => r("still open after 5 s"), 5000))]);
    expect(err).toMatchObject({ code: "ERR_TLS_RECORD" });
    expect(errorKind(err)).toBe("tls");
  });

  it("garbage after the handshake fails the connection with ERR_TLS_RECORD (the tls kind)", async () => {
    const t = await target(tls12("ECDHE-ECDSA-CHACHA20-POLY1305"));
    const m = await mitm(t);
    const c = open(m.port, ca());
    await c.ready;
    c.get("/bytes/10");
    await c.next();
    m.injectRaw(Buffer.concat([Buffer.from([23, 3, 3, 0, 40]), randomBytes(40)]));
    const err = await c.closed;
    expect(err).toMatchObject({ code: "ERR_TLS_RECORD" });
    expect(errorKind(err)).toBe("tls");
  });
});
