/**
 * nginx as the bench's target: Debian's `nginx-light`, one worker, loopback only, started from a
 * config in a temporary directory (nothing of the system's nginx is used or touched). `GET /ping`
 * answers `pong` from memory; `/nginx_status` (stub_status) counts requests, which is how the bench
 * cross-checks every tool's count.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { onPath, procCpuS, type TargetProcess } from "./lib.js";

const NGINX = ["/usr/sbin/nginx", "nginx"];

/** The nginx binary, if there is one. */
export function nginxBinary(): string | undefined {
  return NGINX.find((n) => (n.startsWith("/") ? spawnSync(n, ["-v"]).status === 0 : onPath(n)));
}

/**
 * Installs Debian packages that are missing (as root, with apt-get); returns what could not be
 * installed, with why. Tools are looked up by binary name.
 */
export function ensureDebianPackages(wanted: { binary: string; pkg: string }[], log: (l: string) => void): Map<string, string> {
  const missing = wanted.filter((w) => (w.binary === "nginx" ? nginxBinary() === undefined : !onPath(w.binary)));
  const failed = new Map<string, string>();
  if (missing.length === 0) return failed;
  const pkgs = missing.map((m) => m.pkg);
  if (process.getuid?.() !== 0 || !onPath("apt-get")) {
    for (const m of missing) failed.set(m.binary, `not installed, and this is not root with apt-get (Debian: apt-get install ${m.pkg})`);
    return failed;
  }
  log(`bench: installing ${pkgs.join(", ")} with apt-get (once) ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const update = spawnSync("apt-get", ["update", "-qq"], { env, encoding: "utf8", timeout: 300_000 });
  const install = spawnSync("apt-get", ["install", "-y", "-qq", ...pkgs], { env, encoding: "utf8", timeout: 600_000 });
  for (const m of missing) {
    const ok = m.binary === "nginx" ? nginxBinary() !== undefined : onPath(m.binary);
    if (!ok) failed.set(m.binary, `apt-get install ${m.pkg} failed: ${(install.stderr || update.stderr || "").trim().split("\n").slice(-2).join(" | ")}`);
  }
  return failed;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** nginx as a bench target; `pin` moves it to the given CPUs (taskset), or frees it with undefined. */
export interface NginxTarget extends TargetProcess {
  pin(cpus: string | undefined): void;
  /** The `https://` origin of its TLS listener, when started with one. */
  tlsUrl?: string;
}

/** A certificate and key (PEM files) for nginx's TLS listener. */
export interface NginxTls {
  certFile: string;
  keyFile: string;
  /** HTTP/2 on the TLS listener too (ALPN `h2`, then `http/1.1`). */
  http2?: boolean;
}

/**
 * Starts nginx on 127.0.0.1 (a free port), one worker process, in the foreground. `locations` are
 * extra `location` blocks of its one server (e.g. the scenario bench's flow API), before the
 * catch-all `location /` that answers `pong`. With `tls`, the same server also listens with TLS on a
 * second port (`tlsUrl`), without session resumption: every new connection is a full handshake.
 */
export async function startNginx(locations = "", tls?: NginxTls): Promise<NginxTarget> {
  const bin = nginxBinary();
  if (!bin) throw new Error("nginx is not installed (Debian: apt-get install nginx-light)");
  const dir = mkdtempSync(join(tmpdir(), "kannon-bench-nginx-"));
  const port = await freePort();
  const tlsPort = tls ? await freePort() : 0;
  const tlsListen = tls
    ? `    listen 127.0.0.1:${tlsPort} ssl${tls.http2 ? " http2" : ""} backlog=4096;
    ssl_certificate ${tls.certFile};
    ssl_certificate_key ${tls.keyFile};
    ssl_session_cache off;
    ssl_session_tickets off;
    ssl_protocols TLSv1.2 TLSv1.3;
`
    : "";
  const conf = `
worker_processes 1;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${port} backlog=4096;
${tlsListen}    location = /nginx_status { stub_status; }
${locations}
    location / { default_type text/plain; return 200 "pong\\n"; }
  }
}
`;
  writeFileSync(join(dir, "nginx.conf"), conf);
  const child = spawn(bin, ["-c", join(dir, "nginx.conf"), "-p", dir], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  /** nginx's counters: requests, and connections accepted. */
  const status = async (): Promise<{ requests: number; accepts: number }> => {
    const res = await fetch(`${url}/nginx_status`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    // "Active connections: N \n server accepts handled requests\n A H R \n ..."
    const m = /\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n/.exec(text);
    if (!m) throw new Error(`cannot read nginx_status: ${text}`);
    return { requests: Number(m[3]), accepts: Number(m[1]) };
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await status();
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`nginx did not start: ${stderr.trim() || String(err)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const pid = child.pid!;
  const onExit = () => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  };
  process.once("exit", onExit);
  let base = { requests: 0, accepts: 0 };
  return {
    url,
    ...(tls ? { tlsUrl: `https://127.0.0.1:${tlsPort}` } : {}),
    pid,
    async counts() {
      // Each status read is itself a request: the read that takes the count is not counted.
      const now = await status();
      const n = now.requests - base.requests - 1;
      return { requests: n, responses: n, connections: now.accepts - base.accepts - 1 };
    },
    async reset() {
      base = await status();
    },
    cpuS: () => procCpuS(pid),
    pin(cpus) {
      spawnSync("taskset", ["-pc", cpus ?? `0-${Math.max(0, availableParallelism() - 1)}`, String(pid)], { stdio: "ignore" });
    },
    async stop() {
      process.off("exit", onExit);
      if (child.exitCode === null) {
        const exited = new Promise<void>((r) => child.once("exit", () => r()));
        child.kill("SIGQUIT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
