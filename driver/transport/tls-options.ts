/**
 * The node:tls options of an https:// target from the test's TlsOptions (protocol.proto), one
 * copy for every transport (fast path, undici, HTTP/2) so each verifies and presents the same way.
 */
import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import type { TlsOptions } from "../../gen/kannon/v1/protocol_pb.js";

/**
 * `tls.connect` options for `url`: the test's CA (instead of the system's), client certificate and
 * key (mutual TLS), the SNI name (the test's servername, else the URL's host unless it is an IP
 * address, which SNI may not carry) and `rejectUnauthorized: !insecure`. ALPNProtocols is left to
 * the caller. Without options: the system's CAs verify the URL's host.
 */
export function tlsConnectOptions(tls: TlsOptions | undefined, url: URL): ConnectionOptions {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const servername = tls?.servername || (isIP(host) === 0 ? host : undefined);
  const o: ConnectionOptions = { rejectUnauthorized: !(tls?.insecure ?? false) };
  if (servername !== undefined) o.servername = servername;
  if (tls?.caPem) o.ca = tls.caPem;
  if (tls?.certPem) o.cert = tls.certPem;
  if (tls?.keyPem) o.key = tls.keyPem;
  return o;
}
