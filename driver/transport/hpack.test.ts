/**
 * HPACK (hpack.ts) against the examples of RFC 7541 appendix C: Huffman strings, and a connection's
 * response blocks decoded in order with the dynamic table (C.6: indexed literals, Huffman, entries
 * referenced by later blocks). The request encoder is checked by decoding its output with
 * node:http2's own decoder in h2-transport.test.ts (the server reads every request it sends).
 */
import { describe, expect, it } from "vitest";
import { encodeHeaderBlock, HpackDecoder, HpackError, huffmanDecode } from "./hpack.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("HPACK", () => {
  it("decodes Huffman strings (RFC 7541 C.4.1, C.6.1)", () => {
    const www = hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff");
    expect(huffmanDecode(www, 0, www.length)).toBe("www.example.com");
    const date = hex("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff");
    expect(huffmanDecode(date, 0, date.length)).toBe("Mon, 21 Oct 2013 20:13:21 GMT");
  });

  it("reads the statuses of RFC 7541 C.6's three responses in order, through the dynamic table", () => {
    const d = new HpackDecoder();
    const blocks = [
      "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
      "4883 640e ffc1 c0bf",
      "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ].map(hex);
    expect(blocks.map((b) => d.decode(b, 0, b.length))).toEqual([302, 307, 200]);
  });

  it("takes a status from a literal without indexing, and has none in trailers", () => {
    const d = new HpackDecoder();
    // :status (static name 8) literal "404", then a new-name literal.
    const block = Buffer.from([0x08, 3, ...Buffer.from("404"), 0x00, 1, 0x78, 1, 0x79]);
    expect(d.decode(block, 0, block.length)).toBe(404);
    const trailers = Buffer.from([0x00, 11, ...Buffer.from("grpc-status"), 1, 0x30]);
    expect(d.decode(trailers, 0, trailers.length)).toBe(0);
  });

  it("refuses a block that points past the table or ends mid-string", () => {
    const d = new HpackDecoder();
    expect(() => d.decode(Buffer.from([0xff, 0x10]), 0, 2)).toThrow(HpackError);
    expect(() => d.decode(Buffer.from([0x08, 5, 0x31]), 0, 3)).toThrow(/past the end/);
  });

  it("encodes a request with static-table fields indexed and the rest as literals", () => {
    const block = encodeHeaderBlock([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "a.b"],
      ["x-y", "z"],
    ]);
    expect([...block]).toEqual([0x82, 0x86, 0x84, 0x01, 3, ...Buffer.from("a.b"), 0x00, 3, ...Buffer.from("x-y"), 1, ...Buffer.from("z")]);
  });
});
