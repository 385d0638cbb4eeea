import { EventEmitter } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { H2_PREFACE, sniffH2c } from "./h2c-sniff.js";

/** A listener whose connections go through sniffH2c to two emitters that record what they got. */
async function listen() {
  const got: { to: "h1" | "h2"; bytes: Promise<string> }[] = [];
  const side = (to: "h1" | "h2") => {
    const e = new EventEmitter();
    e.on("connection", (socket: net.Socket) => {
      const bytes = new Promise<string>((resolve) => {
        let all = "";
        socket.on("data", (d: Buffer) => (all += d.toString("latin1")));
        socket.on("end", () => resolve(all));
      });
      got.push({ to, bytes });
      // The h2 side gets a paused socket (node:http2 reads it on its own): a plain reader resumes it.
      socket.resume();
    });
    return e;
  };
  const h1 = side("h1");
  const h2 = side("h2");
  let firstBytes = 0;
  const server = net.createServer((socket) => sniffH2c(socket, h1, h2, () => firstBytes++));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, got, port: (server.address() as net.AddressInfo).port, firstBytes: () => firstBytes };
}

/** Connects, writes each piece 30 ms apart, then ends the connection. */
async function send(port: number, pieces: string[]) {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((r) => socket.once("connect", r));
  for (const p of pieces) {
    socket.write(p);
    await new Promise((r) => setTimeout(r, 30));
  }
  socket.end();
}

describe("sniffH2c", () => {
  let server: net.Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it("hands the HTTP/2 preface to h2, even split across packets, with every byte kept", async () => {
    const l = await listen();
    server = l.server;
    const preface = H2_PREFACE.toString("latin1");
    await send(l.port, [preface.slice(0, 3), preface.slice(3, 20), preface.slice(20) + "FRAMES"]);
    await expect.poll(() => l.got.length).toBe(1);
    expect(l.got[0]!.to).toBe("h2");
    expect(await l.got[0]!.bytes).toBe(preface + "FRAMES");
    expect(l.firstBytes()).toBe(1);
  });

  it("hands anything else to h1 at its first byte that differs, with every byte kept", async () => {
    const l = await listen();
    server = l.server;
    // "PRI" then a byte the preface does not have: HTTP/1.1 (a method named PRIX).
    await send(l.port, ["PRI", "X / HTTP/1.1\r\n\r\n"]);
    await send(l.port, ["GET /ping HTTP/1.1\r\nhost: x\r\n\r\n"]);
    await expect.poll(() => l.got.length).toBe(2);
    expect(l.got.map((g) => g.to)).toEqual(["h1", "h1"]);
    expect(await l.got[0]!.bytes).toBe("PRIX / HTTP/1.1\r\n\r\n");
    expect(await l.got[1]!.bytes).toBe("GET /ping HTTP/1.1\r\nhost: x\r\n\r\n");
  });
});
