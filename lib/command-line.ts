// What both CLIs share: argument parsing with usage errors (exit 2) and --help.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ allowPositionals: true; options: O }>>;

export interface CommandLine<O extends Options> {
  values: Parsed<O>['values'];
  positionals: string[];
  /** Prints `musicgen-x: message` and the usage to stderr and exits with status 2 (`return usageError(..)`). */
  usageError(message: string): never;
}

/** Parses process.argv (`options` should include `help`); on --help prints the usage and exits 0, on bad arguments exits 2 via usageError. */
export function parseCommandLine<O extends Options>(name: string, usage: string, options: O): CommandLine<O> {
  const usageError = (message: string): never => {
    process.stderr.write(`${name}: ${message}\n\n${usage}\n`);
    process.exit(2);
  };
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ allowPositionals: true, options });
  } catch (error) {
    return usageError((error as Error).message);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return { values: parsed.values, positionals: parsed.positionals, usageError };
}
