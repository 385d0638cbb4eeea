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

  /** Undefined when `url` may be loaded; otherwise why not. */
  refuses(url: string): string | undefined {
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
    return `spec.target_url ${u.protocol}//${u.host} is not an allowed target (allowed: ${this.describe()})`;
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
