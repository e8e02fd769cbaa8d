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
    throw new RebakeError('CLI_USAGE', `${usageProblem(spec, argv, (e as NodeJS.ErrnoException).code)} (see rebake ${spec.name} --help)`, { file: 'command line' });
  }
  const [min, max] = spec.positionals ?? [0, 0];
  const n = parsed.positionals.length;
  if (n < min || n > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw new RebakeError('CLI_USAGE', `expected ${want} positional argument(s), got ${n}${n ? ` (${parsed.positionals.join(' ')})` : ''} (see rebake ${spec.name} --help)`, { file: 'command line' });
  }
  return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
}

/** What parseArgs refused, in our words (its messages change between Node versions). */
function usageProblem(spec: CommandSpec, argv: string[], code: string | undefined): string {
  const byShort = new Map(Object.entries(spec.options).filter(([, o]) => o.short).map(([long, o]) => [o.short!, long]));
  const longOf = (arg: string) => (arg.startsWith('--') ? arg.slice(2).split('=')[0] : byShort.get(arg.slice(1, 2)));
  const optionArgs = argv.slice(0, argv.includes('--') ? argv.indexOf('--') : argv.length).filter((a) => /^-./.test(a));
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const unknown = optionArgs.find((a) => {
      const long = longOf(a);
      return !long || !(long in spec.options);
    });
    return `unknown option ${unknown ?? ''}; options: ${Object.keys(spec.options).map((k) => `--${k}`).join(', ')}`.replace(/ ;/, ';');
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    for (let k = 0; k < argv.length; k++) {
      const long = longOf(argv[k]);
      const o = long ? spec.options[long] : undefined;
      if (!o || !/^-./.test(argv[k])) continue;
      if (o.type === 'boolean' && argv[k].includes('=')) return `--${long} is a switch and takes no value`;
      if (o.type === 'string' && !argv[k].includes('=') && argv[k].length <= 2 + long!.length && (k + 1 >= argv.length || /^-./.test(argv[k + 1]))) return `--${long} needs a value`;
    }
  }
  return 'invalid command line';
}

/** An integer option in [min, max], or the default. The limit keeps counts away from allocations and native calls. */
export function intOption(args: ParsedArgs, name: string, dflt: number, min = 1, max = 1_000_000_000): number {
  const v = args.values[name];
  if (v === undefined) return dflt;
  const n = typeof v === 'string' && /^\s*[+]?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new RebakeError('CLI_USAGE', `--${name} must be an integer >= ${min}, got "${v}"`, { file: 'command line' });
  }
  if (n > max) throw new RebakeError('CLI_LIMIT', `--${name} ${v} is over the limit of ${max}`, { file: 'command line' });
  return n;
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}
