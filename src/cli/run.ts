/** A mistake in how a command was called: exit code 2 and a pointer to --help. */
export class UsageError extends Error {}

/**
 * Runs a command-line entry point: its resolved number is the exit code; an error prints one
 * `Error: …` line (never a stack trace), exit 2 for usage errors (ours or node's parseArgs), else 1.
 */
export function runCli(program: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
      process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n${usage ? `Run '${program} --help' for usage.\n` : ''}`);
      process.exitCode = usage ? 2 : 1;
    },
  );
}

/** `key=value` flags (`--var`, `--tag`, `--auth-conf`) into pairs; a malformed one is a usage error. */
export function keyValuePairs(pairs: readonly string[], flag: string): Array<[string, string]> {
  return pairs.map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${flag} must be key=value, got "${pair}"`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  });
}
