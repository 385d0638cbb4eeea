/** The plain module every worker thread starts from (driver/load/load-worker-boot.mjs). */
export const WORKER_BOOT = new URL("./load-worker-boot.mjs", import.meta.url);

/**
 * The URL of the worker entry module `name` beside `from` (an `import.meta.url`): `name.ts` when
 * running from the repository's sources under tsx, `name.js` in the built package (dist/).
 */
export function workerEntry(name: string, from: string): string {
  return new URL(`./${name}${from.endsWith(".ts") ? ".ts" : ".js"}`, from).href;
}
