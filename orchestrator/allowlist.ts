import type { TestSpec } from "../gen/kannon/v1/test_pb.js";

/** One allowed target: a host name or address, and a port or any port. */
interface AllowedTarget {
  host: string;
  port: number | undefined;
}

/**
 * Where tests may send load: `HOST[:PORT]` entries (`[::1]:8080` for IPv6). Empty means
 * anywhere. A host matches by name as written in the URL (no DNS: `localhost` and `127.0.0.1`
 * are different entries); an entry without a port allows every port of its host.
 */
export class TargetAllowlist {
  private readonly entries: AllowedTarget[];

  /** Throws an Error naming the first entry that is not `HOST[:PORT]`. */
  constructor(entries: readonly string[] = []) {
    this.entries = entries.map(parseEntry);
  }

  /** True when there is no allowlist (every target allowed). */
  get open(): boolean {
    return this.entries.length === 0;
  }

  /**
   * Undefined when every request of `spec` may be sent: its target_url, and each step's absolute
   * URL (a step URL whose scheme or host is a template cannot be checked, so it is refused while
   * an allowlist is set); otherwise why not, naming each field.
   */
  refusesSpec(spec: TestSpec): string | undefined {
    if (this.open) return undefined;
    const why = [this.refuses(spec.targetUrl)];
    spec.scenarios.forEach((s, i) =>
      s.steps.forEach((step, j) => {
        const field = `spec.scenarios[${i}].steps[${j}].url`;
        if (step.url.startsWith("/")) return; // on target_url's origin
        const origin = /^[a-z]+:\/\/[^/?#]*/i.exec(step.url)?.[0];
        if (!origin || origin.includes("{{")) why.push(`${field} takes its host from a template, which cannot be checked against the allowed targets (${this.describe()})`);
        else why.push(this.refuses(step.url, field));
      }),
    );
    const all = why.filter((w): w is string => w !== undefined);
    return all.length > 0 ? all.join("; ") : undefined;
  }

  /** Undefined when `url` may be loaded; otherwise why not (naming `field`). */
  refuses(url: string, field = "spec.target_url"): string | undefined {
    if (this.open) return undefined;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined; // not a URL: validation names it
    }
    const host = u.hostname.toLowerCase();
    const port = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
    if (this.entries.some((e) => e.host === host && (e.port === undefined || e.port === port))) return undefined;
    return `${field} ${u.protocol}//${u.host} is not an allowed target (allowed: ${this.describe()})`;
  }

  describe(): string {
    return this.entries.map((e) => (e.port === undefined ? e.host : `${e.host}:${e.port}`)).join(", ");
  }
}

function parseEntry(raw: string): AllowedTarget {
  const text = raw.trim();
  let u: URL;
  try {
    u = new URL(`http://${text}`);
  } catch {
    throw new Error(`allowed target "${raw}" is not HOST[:PORT]`);
  }
  if (!u.hostname || u.pathname !== "/" || u.search || u.hash || u.username || text.includes("/"))
    throw new Error(`allowed target "${raw}" is not HOST[:PORT]`);
  const explicitPort = /:\d+$/.test(text);
  return { host: u.hostname.toLowerCase(), port: explicitPort ? Number(text.slice(text.lastIndexOf(":") + 1)) : undefined };
}
