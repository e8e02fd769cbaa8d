/**
 * Command-line parsing shared by every command: node's parseArgs with our error style (exit 2, one line).
 * vamp's spellings are kept as given (`--vdsp_params`, `--path_output`).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { RebakeError } from '../core/errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec {
  name: string;
  /** Full help text printed by `rebake <command> --help`. */
  help: string;
  options: OptionSpec;
  /** Positional arguments allowed (min, max). */
  positionals?: [number, number];
  run(args: ParsedArgs): Promise<number>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

export function parseCommandArgs(spec: CommandSpec, argv: string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: spec.options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new RebakeError('CLI_USAGE', `${(e as Error).message.replace(/\. To specify a positional.*$/s, '')} (see rebake ${spec.name} --help)`, { file: `rebake ${spec.name}` });
  }
  const [min, max] = spec.positionals ?? [0, 0];
  const n = parsed.positionals.length;
  if (n < min || n > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new RebakeError('CLI_USAGE', `expected ${want} positional argument(s), got ${n}${n ? ` (${parsed.positionals.join(' ')})` : ''} (see rebake ${spec.name} --help)`, { file: `rebake ${spec.name}` });
  }
  return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
}

/** A positive integer option, or the default. */
export function intOption(args: ParsedArgs, name: string, dflt: number, min = 1): number {
  const v = args.values[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new RebakeError('CLI_USAGE', `--${name} must be an integer >= ${min}, got "${v}"`, { file: 'command line' });
  }
  return n;
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}
