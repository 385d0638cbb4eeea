/**
 * RPC bench child: one Kannon driver runs an avalanche of unary gRPC calls
 * (kannon.target.v1.TargetService/Echo, proto codec, HTTP/2 h2c) and prints a LoadResult, as
 * kannon-load.ts does for HTTP. The same connections and calls in flight as ghz's
 * `--connections C -c CONCURRENCY`.
 * Usage: node --import tsx bench/rpc-load.ts URL CONNECTIONS CONCURRENCY DURATION_MS
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { file_kannon_target_v1_target } from "../gen/kannon/target/v1/target_pb.js";
import { HttpOptionsSchema, HttpVersion, RpcCodec, RpcProtocol, RpcSchema$, RpcSchemaSchema, RpcSchemaSource } from "../gen/kannon/v1/protocol_pb.js";
import { MetricsAccumulator, msOf } from "../metrics/stats.js";
import { accumulatedResult, cpuSince, printResult } from "./load-result.js";
import { runSoloAvalanche } from "./solo-driver.js";

/** The request every call sends (ghz sends the same JSON). */
const ECHO_JSON = '{"text": "hello kannon"}';

const [url, connectionsArg, concurrencyArg, durationArg] = process.argv.slice(2);
if (!url || !connectionsArg || !concurrencyArg || !durationArg) {
  console.error("usage: rpc-load.ts URL CONNECTIONS CONCURRENCY DURATION_MS");
  process.exit(2);
}
const connections = Number(connectionsArg);
const concurrency = Number(concurrencyArg);
const image = toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [file_kannon_target_v1_target.proto] }));

const total = new MetricsAccumulator();
let lastEndMs = 0;
let cpuStart: NodeJS.CpuUsage | undefined;
const result = await runSoloAvalanche({
  url,
  concurrency,
  durationMs: Number(durationArg),
  reportIntervalMs: 1000,
  rpc: create(RpcSchema$, { service: "kannon.target.v1.TargetService", method: "Echo", requestJson: ECHO_JSON, protocol: RpcProtocol.GRPC, codec: RpcCodec.PROTO }),
  rpcSchema: create(RpcSchemaSchema, { source: RpcSchemaSource.IMAGE, image, origin: "bench" }),
  http: create(HttpOptionsSchema, { version: HttpVersion.HTTP_VERSION_2, connections, streamsPerConnection: Math.ceil(concurrency / connections) }),
  onStartAt: (startAtMs) => {
    setTimeout(() => (cpuStart = process.cpuUsage()), Math.max(0, startAtMs - Date.now()));
  },
  onMetrics: (m) => {
    total.add(m);
    if (m.intervalEnd) lastEndMs = Math.max(lastEndMs, msOf(m.intervalEnd));
  },
});
const cpuS = cpuStart ? cpuSince(cpuStart) : 0;
if (result.error) console.error(`rpc-load: the driver reported: ${result.error}`);
printResult(
  accumulatedResult(total, result.startAtMs, lastEndMs, cpuS, (stats) => ({
    note: `codes ${Object.entries(stats.codeCounts).map(([c, n]) => `${c}×${n}`).join(" ")}, ${connections} connection(s), ${concurrency} in flight`,
  })),
);
