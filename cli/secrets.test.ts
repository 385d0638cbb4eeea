import { afterEach, describe, expect, it, vi } from "vitest";
import { kafkaSecurity } from "./secrets.js";

describe("kafkaSecurity", () => {
  afterEach(() => vi.unstubAllEnvs());

  it("treats an empty KANNON_KAFKA_SASL_MECHANISM as unset, as a compose file or unit passes it", () => {
    vi.stubEnv("KANNON_KAFKA_SASL_MECHANISM", "");
    vi.stubEnv("KANNON_KAFKA_TLS", "");
    expect(kafkaSecurity({})).toEqual({});
  });

  it("still names a mechanism it does not know", () => {
    vi.stubEnv("KANNON_KAFKA_SASL_MECHANISM", "kerberos");
    expect(() => kafkaSecurity({})).toThrow('--kafka-sasl-mechanism must be one of plain, scram-sha-256, scram-sha-512, not "kerberos"');
  });

  it("reads the user and password from the environment", () => {
    vi.stubEnv("KANNON_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512");
    vi.stubEnv("KANNON_KAFKA_USERNAME", "kannon");
    vi.stubEnv("KANNON_KAFKA_PASSWORD", "s3cret");
    expect(kafkaSecurity({})).toEqual({ sasl: { mechanism: "scram-sha-512", username: "kannon", password: "s3cret" } });
  });
});
