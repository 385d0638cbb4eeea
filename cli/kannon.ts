#!/usr/bin/env -S node --import tsx
/** The `kannon` command: picks the command, prints help and version, maps errors to exit codes. */
import { Code, ConnectError } from "@connectrpc/connect";
import { closest, UsageError } from "./args.js";
import { commandHelp, overview, version } from "./help.js";
import { allCommands, commandNames, loadCommand } from "./commands.js";
import { EXIT } from "./run-test.js";

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (name === "--version" || name === "-v" || name === "version") {
    console.log(version());
    process.exit(EXIT.ok);
  }
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const about = name === "help" && rest[0] ? await loadCommand(rest[0]) : undefined;
    if (name === undefined) console.error(overview(await allCommands()));
    else console.log(about ? commandHelp(about) : overview(await allCommands()));
    process.exit(name === undefined ? EXIT.usage : EXIT.ok);
  }
  const command = await loadCommand(name);
  if (!command) {
    const guess = closest(name, commandNames);
    console.error(`kannon: unknown command "${name}"${guess ? `: did you mean kannon ${guess}?` : ""}\n\n${overview(await allCommands())}`);
    process.exit(EXIT.usage);
  }
  // `--help` anywhere before `--` (not as a flag's value, which never starts with "--help").
  const flags = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
  if (flags.includes("--help") || flags.includes("-h")) {
    console.log(commandHelp(command));
    process.exit(EXIT.ok);
  }
  try {
    process.exit(await command.run(rest));
  } catch (err) {
    const usage = err instanceof UsageError || (err instanceof ConnectError && (err.code === Code.InvalidArgument || err.code === Code.NotFound));
    const notRun = err instanceof ConnectError && err.code === Code.FailedPrecondition;
    console.error(`kannon ${name}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(usage ? EXIT.usage : notRun ? EXIT.testNotCompleted : EXIT.failure);
  }
}

await main();
