import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { TlsOptionsSchema } from "../../gen/kannon/v1/protocol_pb.js";
import { codeError, errorKind } from "./error-kind.js";
import { tlsConnectOptions } from "./tls-options.js";

describe("tlsConnectOptions", () => {
  it("verifies the URL's host by default, with the system's CAs", () => {
    expect(tlsConnectOptions(undefined, new URL("https://localhost:8443/x"))).toEqual({ rejectUnauthorized: true, servername: "localhost" });
  });
  it("sends no SNI for an IP address unless a servername is given", () => {
    expect(tlsConnectOptions(undefined, new URL("https://127.0.0.1:8443/")).servername).toBeUndefined();
    expect(tlsConnectOptions(undefined, new URL("https://[::1]:8443/")).servername).toBeUndefined();
    const tls = create(TlsOptionsSchema, { servername: "target.test" });
    expect(tlsConnectOptions(tls, new URL("https://127.0.0.1:8443/")).servername).toBe("target.test");
  });
  it("passes the CA, the client certificate and key, and insecure", () => {
    const tls = create(TlsOptionsSchema, { caPem: "CA", certPem: "CERT", keyPem: "KEY", insecure: true });
    expect(tlsConnectOptions(tls, new URL("https://a.test/"))).toEqual({ rejectUnauthorized: false, servername: "a.test", ca: "CA", cert: "CERT", key: "KEY" });
  });
});

describe("errorKind of TLS and HTTP/2 failures", () => {
  it("names certificate verification, other handshake failures and h2 protocol failures", () => {
    expect(errorKind(codeError("x", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"))).toBe("tls_verify");
    expect(errorKind(codeError("x", "DEPTH_ZERO_SELF_SIGNED_CERT"))).toBe("tls_verify");
    expect(errorKind(codeError("x", "ERR_TLS_CERT_ALTNAME_INVALID"))).toBe("tls_verify");
    expect(errorKind(codeError("x", "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"))).toBe("tls");
    expect(errorKind(codeError("x", "ERR_SSL_WRONG_VERSION_NUMBER"))).toBe("tls");
    expect(errorKind(codeError("x", "KANNON_H2_PROTOCOL"))).toBe("h2_protocol");
    expect(errorKind(codeError("x", "ECONNREFUSED"))).toBe("connect_refused");
  });
});
