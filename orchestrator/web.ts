import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type http from "node:http";
import { join } from "node:path";
import { swallowed } from "../metrics/swallowed.js";

const root = join(import.meta.dirname, "..");
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'";

/** The dashboard's files: the page, its stylesheets, and the app bundled by esbuild. */
interface Assets {
  files: Map<string, { type: string; body: Buffer | string }>;
}

let assets: Promise<Assets> | undefined;

/** The dashboard's files as the built package ships them (scripts/build-package.ts): dist/web/. */
const PREBUILT = ["index.html", "app.js", "style.css", "uplot.css"] as const;

/**
 * The dashboard's files, read once per process. The built package serves the bundle made at build
 * time (dist/web/app.js); from the repository's sources web/app.ts (connect-web client, uPlot) is
 * bundled with esbuild on the first request. Either way every asset is served by the orchestrator (no CDN).
 */
function loadAssets(): Promise<Assets> {
  assets ??= (async () => {
    const prebuilt = existsSync(join(root, "web", "app.js"));
    const [html, app, style, uplot] = prebuilt
      ? await Promise.all(PREBUILT.map((name) => readFile(join(root, "web", name))))
      : await Promise.all([
          readFile(join(root, "web", "index.html")),
          bundleDashboard(join(root, "web")),
          readFile(join(root, "web", "style.css")),
          readFile(join(root, "node_modules", "uplot", "dist", "uPlot.min.css")),
        ]);
    const files = new Map<string, { type: string; body: Buffer | string }>();
    files.set("/", { type: "text/html; charset=utf-8", body: html! });
    files.set("/ui/app.js", { type: "text/javascript; charset=utf-8", body: app! });
    files.set("/ui/style.css", { type: "text/css; charset=utf-8", body: style! });
    files.set("/ui/uplot.css", { type: "text/css; charset=utf-8", body: uplot! });
    return { files };
  })();
  assets.catch(() => (assets = undefined)); // a failed build is tried again on the next request
  return assets;
}

/**
 * Bundles `web`/app.ts for the browser with esbuild (a development dependency, so imported only
 * when needed); used on the first request from the sources and by scripts/build-package.ts.
 */
export async function bundleDashboard(web: string): Promise<string> {
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: [join(web, "app.ts")],
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    write: false,
    logLevel: "silent",
    tsconfig: join(web, "tsconfig.json"),
    loader: { ".yaml": "text" }, // the examples the new-test page offers (web/spec-editor.ts)
  });
  return result.outputFiles[0]!.text;
}

/** True when `path` is one of the dashboard's (GET /, /index.html, /ui/…). */
export function isDashboardPath(path: string): boolean {
  return path === "/" || path === "/index.html" || path === "/favicon.ico" || path.startsWith("/ui/");
}

/** Serves the dashboard's files; they hold no data (the page calls the API like any client). */
export async function serveDashboard(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?")[0]!;
  if (path === "/favicon.ico") {
    res.writeHead(204).end();
    return;
  }
  try {
    const file = (await loadAssets()).files.get(path === "/index.html" ? "/" : path);
    if (!file) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, { "content-type": file.type, "content-security-policy": CSP, "x-content-type-options": "nosniff", "cache-control": "no-cache" }).end(file.body);
  } catch (err) {
    swallowed("server.dashboard", `orchestrator: the dashboard could not be built: ${String(err)}`);
    res.writeHead(500, { "content-type": "text/plain" }).end(`the dashboard could not be built: ${String(err)}\n`);
  }
}
