import { describe, expect, it } from "vitest";
import { resolveStepUrl } from "./step-request.js";

describe("resolveStepUrl", () => {
  const origin = "http://127.0.0.1:8080";

  it("keeps every path on the target's origin, whatever the path holds", () => {
    // Each of these, resolved by the URL parser against the origin instead, leaves it for evil.example.
    for (const path of ["//evil.example/x", "/\\evil.example/x", "/\t/evil.example/x", "/\\\\evil.example"]) {
      expect(new URL(path, origin).host).toBe("evil.example");
      const url = resolveStepUrl(path, origin)!;
      expect(url.host).toBe("127.0.0.1:8080");
      expect(url.pathname.startsWith("/")).toBe(true);
    }
    expect(resolveStepUrl("/items/7?fail=3", origin)!.href).toBe("http://127.0.0.1:8080/items/7?fail=3");
  });

  it("takes an absolute http(s) URL as it is and refuses other schemes and garbage", () => {
    expect(resolveStepUrl("https://api.example/v1", origin)!.href).toBe("https://api.example/v1");
    expect(resolveStepUrl("file:///etc/passwd", origin)).toBeUndefined();
    expect(resolveStepUrl("not a url", origin)).toBeUndefined();
  });
});
