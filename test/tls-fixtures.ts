import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ensureDebianPackage } from "../scripts/debian-package.js";

const run = promisify(execFile);

/** A certificate and its private key: the PEM texts and the files holding them. */
export interface KeyPair {
  /** The certificate, PEM. */
  cert: string;
  /** The private key, PEM (unencrypted PKCS#8). */
  key: string;
  /** Path of the certificate file. */
  certFile: string;
  /** Path of the key file. */
  keyFile: string;
}

/** Certificates made for one test file by {@link createTlsFixtures}. */
export interface TlsFixtures {
  /** The temporary directory holding every file; removed by {@link TlsFixtures.cleanup}. */
  dir: string;
  /** The self-signed CA (CA:TRUE) that signed `server` and `client`. */
  ca: KeyPair;
  /**
   * A server certificate signed by `ca`, for `127.0.0.1`, `::1`, `localhost` and {@link sniName}
   * (serverAuth).
   */
  server: KeyPair;
  /** A client certificate signed by `ca` (clientAuth), CN `kannon-client`: mutual TLS. */
  client: KeyPair;
  /**
   * A self-signed certificate for the same names, from no CA the others trust: as a server
   * certificate it does not verify against `ca`; as a client certificate a server trusting only
   * `ca` refuses it.
   */
  untrusted: KeyPair;
  /** The extra DNS name in the server certificate (SNI / servername tests). */
  sniName: string;
  /** Removes the directory; safe to call twice. */
  cleanup(): Promise<void>;
}

/** What {@link createTlsFixtures} may be told. */
export interface TlsFixturesOptions {
  /** The server certificate's extra DNS name; default `target.kannon.test`. */
  sniName?: string;
  /** Days the certificates are valid from now; default 2. */
  days?: number;
}

// A config of our own, so the machine's openssl.cnf (or its absence) does not change the result.
/** What every end-entity certificate (not a CA) says about itself. */
const LEAF = `basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
subjectKeyIdentifier = hash`;
const CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
${LEAF}
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = @names
[client_ext]
${LEAF}
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[self_ext]
${LEAF}
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = @names
[names]
IP.1 = 127.0.0.1
IP.2 = ::1
DNS.1 = localhost
`;

/** P-256 keys: made in milliseconds, unlike RSA. */
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc"];

/**
 * Makes a CA, a server certificate and a client certificate signed by it, and an untrusted
 * self-signed certificate, with the `openssl` binary into a new temporary directory. Call
 * `cleanup()` when done (an `afterAll`). Rejects with openssl's own message when a step fails.
 */
export async function createTlsFixtures(options: TlsFixturesOptions = {}): Promise<TlsFixtures> {
  const sniName = options.sniName ?? "target.kannon.test";
  const days = String(options.days ?? 2);
  if (!/^[a-z0-9.-]+$/i.test(sniName)) throw new Error(`tls fixtures: sniName must be a DNS name, got ${JSON.stringify(sniName)}`);
  // A fresh Debian machine may lack the binary: installed once, as the other tools tests need.
  const bin = await ensureDebianPackage({ name: "openssl", file: "/usr/bin/openssl", executable: true, about: "a few seconds" }, (m) => process.stderr.write(`${m}\n`));
  const dir = await mkdtemp(join(tmpdir(), "kannon-tls-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const config = join(dir, "openssl.cnf");
    await writeFile(config, `${CONFIG}DNS.2 = ${sniName}\n`);
    const file = (name: string) => join(dir, name);
    const openssl = async (args: string[]) => {
      try {
        await run(bin, args, { cwd: dir, env: { ...process.env, OPENSSL_CONF: config } });
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`tls fixtures: openssl ${args[0]} failed: ${(e.stderr ?? "").trim() || e.message}`);
      }
    };
    const selfSigned = (name: string, cn: string, ext: string) =>
      openssl(["req", "-x509", "-new", ...NEW_KEY, "-keyout", file(`${name}.key`), "-out", file(`${name}.pem`), "-days", days, "-subj", `/CN=${cn}`, "-config", config, "-extensions", ext]);
    const signed = async (name: string, cn: string, ext: string) => {
      await openssl(["req", "-new", ...NEW_KEY, "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`), "-subj", `/CN=${cn}`, "-config", config]);
      await openssl([
        "x509", "-req", "-in", file(`${name}.csr`), "-CA", file("ca.pem"), "-CAkey", file("ca.key"), "-set_serial", `0x${randomSerial()}`,
        "-out", file(`${name}.pem`), "-days", days, "-extfile", config, "-extensions", ext,
      ]);
    };
    await Promise.all([selfSigned("ca", "Kannon Test CA", "ca_ext"), selfSigned("untrusted", "localhost", "self_ext")]);
    await Promise.all([signed("server", "localhost", "server_ext"), signed("client", "kannon-client", "client_ext")]);
    const pair = async (name: string): Promise<KeyPair> => ({
      cert: await readFile(file(`${name}.pem`), "utf8"),
      key: await readFile(file(`${name}.key`), "utf8"),
      certFile: file(`${name}.pem`),
      keyFile: file(`${name}.key`),
    });
    return { dir, ca: await pair("ca"), server: await pair("server"), client: await pair("client"), untrusted: await pair("untrusted"), sniName, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function randomSerial(): string {
  return Array.from({ length: 16 }, () => Math.floor(Math.random() * 16).toString(16)).join("").replace(/^0/, "1");
}
