/**
 * The `kannon` commands, each module loaded when it is asked for: a usage error is answered
 * without loading the fleet's code. (Not in kannon.ts: tsx cannot rewrite a dynamic import in a
 * file that starts with a shebang line.)
 */
import type { Command } from "./help.js";

const loaders: Record<string, () => Promise<Command>> = {
  run: () => import("./run-commands.js").then((m) => m.runCommand),
  test: () => import("./run-commands.js").then((m) => m.testCommand),
  report: () => import("./report-commands.js").then((m) => m.reportCommand),
  compare: () => import("./compare-command.js").then((m) => m.compareCommand),
  tests: () => import("./report-commands.js").then((m) => m.testsCommand),
  orchestrator: () => import("./serve-commands.js").then((m) => m.orchestratorCommand),
  driver: () => import("./serve-commands.js").then((m) => m.driverCommand),
  target: () => import("./serve-commands.js").then((m) => m.targetCommand),
};

/** The commands' names, in the overview's order. */
export const commandNames = Object.keys(loaders);

/** The command of that name, or undefined when there is none. */
export async function loadCommand(name: string): Promise<Command | undefined> {
  return Object.hasOwn(loaders, name) ? loaders[name]!() : undefined;
}

/** Every command, in the overview's order. */
export function allCommands(): Promise<Command[]> {
  return Promise.all(Object.values(loaders).map((load) => load()));
}
