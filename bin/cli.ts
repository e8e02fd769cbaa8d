/**
 * rebake's entry point. Commands live in bin/commands/<name>.ts and are imported only when used, so
 * `rebake --help` does not pay for onnxruntime or protobuf. Exit codes: 0 ok, 2 bad input, 1 internal error.
 */
import { isRebakeError } from '../core/errors.js';
import { packageVersion as version } from '../core/version.js';
import type { CommandSpec } from './args.js';
import { parseCommandArgs } from './args.js';

/** Each command with its one-line summary (here, not in the command's module: `rebake --help` imports none). */
const COMMANDS: Record<string, string> = {
  build: 'compile a train-time ONNX model from a vamc-style YAML config',
  inspect: 'show inputs, outputs, op histogram, parameters and MACs of a model or build',
  zoo: 'write a train-time RepVGG ONNX (seeded random weights) for tests and demos',
  run: 'run a built model over a datalist of npz files, or measure its performance',
  image2npz: 'convert a folder of images to npz files and a datalist',
  eval: 'top-1/top-5 accuracy of run outputs',
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([c, s]) => `  ${c.padEnd(width)}  ${s}`);
  return `rebake ${version()}: re-parameterize, bake and run image classifiers on ONNX Runtime

Usage: rebake <command> [options]     rebake help <command> (or rebake <command> --help) for its options

Commands:
${lines.join('\n')}

Exit codes: 0 success, 2 bad input (one line naming the file and the problem), 1 internal error (with a stack).
`;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // `rebake help <command>` is `rebake <command> --help`.
  if (cmd === 'help' && rest.length) return main([rest[0], '--help']);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage());
    return cmd ? 0 : 2;
  }
  if (cmd === '--version' || cmd === '-V') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (!(cmd in COMMANDS)) {
    process.stderr.write(`rebake: command line: unknown command "${cmd}"; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  const { command } = (await import(`./commands/${cmd}.js`)) as { command: CommandSpec };
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help.endsWith('\n') ? command.help : `${command.help}\n`);
    return 0;
  }
  return command.run(parseCommandArgs(command, rest));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (isRebakeError(e)) {
      process.stderr.write(`rebake: ${e.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`rebake: internal error (please report): ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
