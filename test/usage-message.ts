import { expect } from "vitest";
import { UsageError } from "../cli/args.js";

/** The message of the usage error `f` throws; fails the test when it throws none, or another kind. */
export function usageMessage(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error("no usage error was thrown");
}
