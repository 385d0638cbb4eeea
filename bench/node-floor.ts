/**
 * The floor of node's sockets, for the TLS part (bench/tls.ts): the least a Node.js keep-alive loop
 * can spend per request, with none of Kannon's work (no parser beyond counting a response's bytes,
 * no clock, no histogram). CONNECTIONS sockets (node:net, or node:tls with the CA for an https URL,
 * one secure context, reading with `onread` into one buffer as Kannon's fast path does), each
 * writing one prebuilt GET and writing the next once the whole answer arrived. The answer's size is
 * taken from the first one (nginx answers /ping with a fixed size), so no answer is counted twice
 * nor a request sent before its answer ended.
 * Usage: node --import tsx bench/node-floor.ts URL CONNECTIONS DURATION_MS [CA_FILE]
 * Prints a {@link LoadResult} (no latency: p50 and p99 are null) counting the requests answered
 * between the first 0.5 s and the end, and the CPU the process used in that window.
 */
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect, createSecureContext } from "node:tls";
import { cpuSince, printResult } from "./load-result.js";

const [urlArg, connectionsArg, durationArg, caFile] = process.argv.slice(2);
if (!urlArg || !connectionsArg || !durationArg) {
  console.error("usage: node-floor.ts URL CONNECTIONS DURATION_MS [CA_FILE]");
  process.exit(2);
}
const url = new URL(urlArg);
const https = url.protocol === "https:";
const request = Buffer.from(`GET ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\n\r\n`, "latin1");
const secureContext = https ? createSecureContext({ ca: caFile ? readFileSync(caFile) : undefined }) : undefined;
const readBuffer = Buffer.allocUnsafe(64 * 1024);
const warmUpMs = 500;
const endAt = Date.now() + Number(durationArg);
/** Bytes of one whole answer, learnt from the first (its head and its content-length). */
let answerBytes = 0;
let answered = 0;
let errors = 0;

/** The size of the answer whose start is in `head`, or 0 while its head is incomplete. */
function sizeOf(head: string): number {
  const end = head.indexOf("\r\n\r\n");
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (end < 0 || !length) return 0;
  return end + 4 + Number(length[1]);
}

function open(): void {
  let socket: Socket;
  let received = 0;
  let firstHead = "";
  const onread = {
    buffer: readBuffer,
    callback: (n: number): boolean => {
      received += n;
      if (answerBytes === 0) {
        firstHead += readBuffer.toString("latin1", 0, n);
        answerBytes = sizeOf(firstHead);
        if (answerBytes === 0) return true;
      }
      while (received >= answerBytes) {
        received -= answerBytes;
        answered++;
        if (Date.now() < endAt) socket.write(request);
        else socket.destroy();
      }
      return true;
    },
  };
  const options = { host: url.hostname, port: Number(url.port) || (https ? 443 : 80), onread };
  socket = https ? tlsConnect({ ...options, secureContext, ALPNProtocols: ["http/1.1"] }) : connect({ ...options, noDelay: true });
  if (https) socket.setNoDelay(true);
  socket.once(https ? "secureConnect" : "connect", () => socket.write(request));
  socket.on("error", () => errors++);
}

for (let i = 0; i < Number(connectionsArg); i++) open();
let from = 0;
let cpu: NodeJS.CpuUsage | undefined;
let startMs = 0;
setTimeout(() => {
  from = answered;
  cpu = process.cpuUsage();
  startMs = Date.now();
}, warmUpMs);
setTimeout(() => {
  const requests = answered - from;
  const durationS = (Date.now() - startMs) / 1000;
  printResult({ requests, errors, durationS, reqPerS: requests / durationS, p50Ms: Number.NaN, p99Ms: Number.NaN, cpuS: cpuSince(cpu!), note: "node's sockets alone: no latency recorded" });
  process.exit(0);
}, Math.max(warmUpMs + 100, endAt - Date.now()));
