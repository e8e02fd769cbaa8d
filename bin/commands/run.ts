/** `rebake run`: the vamp-style runner (datalist mode, performance mode, layout sweep). */
import { RebakeError } from '../../core/errors.js';
import { checkOutputTarget, writeFileAtomic } from '../../core/fsutil.js';
import { parseShard, runDatalist, type DatalistSummary } from '../../runtime/datalist.js';
import { resolveModel } from '../../runtime/model.js';
import { formatMemory } from '../../runtime/pool.js';
import { formatPerf, runPerf } from '../../runtime/perf.js';
import { defaultThreads, type RunSettings } from '../../runtime/start.js';
import { best, formatLayout, sweep } from '../../runtime/sweep.js';
import { intOption, stringOption, type CommandSpec, type ParsedArgs } from '../args.js';

const HELP = `Usage: rebake run -m <model> [options]

Runs a model on ONNX Runtime, the way the zoo's vamp runner does.
  With --datalist: one output npz per input npz in --path_output (keys output_0, output_1, ...; names sort in
  datalist order). Without: a performance test on synthetic input (throughput, latency percentiles).

Options:
Model
  -m, --model <path>         build prefix <workspace>/<name>/mod (as the zoo passes it), a build folder, or an .onnx
  --vdsp_params <json>       host preprocessing for a float-input model fed uint8 images (default: from mod.json)
  -s, --shape [C,H,W]        input size where the model leaves it open (performance mode, dynamic models)
Workers
  -p, --processes <n>        OS processes (default 1)
  -i, --instances <n>        sessions per process, each on its own thread (default 1)
  -b, --batch <n>            samples per run() call (default 1)
  --threads <n>              intra-op threads per session (default: max(1, floor(cores / (p*i))))
Datalist mode
  --datalist <list.txt>      one .npz path per line (image2npz writes it)
  --path_output <dir>        output folder (created if missing)
  --resume                   skip inputs whose output already exists and loads
  --skip-bad                 go on past bad inputs and list them at the end (default: stop at the first, exit 2)
  --shard k/n                run only slice k (0-based) of n of the datalist; the union of the n shards is the full run
Performance mode
  --iterations <n>           run() calls in total, or
  --duration <s>             seconds of measurement (default 3)
  --warmup <n>               run() calls per session before measuring (default 2)
  --sweep                    try every processes x sessions x threads split of the cores at batch 1/4/8/16 and print the best
  --report <file.json>       also write the report (either mode) as JSON
  -h, --help                 this help

Exit codes: 0 success, 2 bad input or usage (one line naming the file and the problem), 1 internal error (with a stack) or inputs lost to crashed workers (rerun with --resume), 130 interrupted.
`;

/** Upper bounds of the counts a user gives: each one sizes processes, threads or buffers. */
const LIMITS = { processes: 256, instances: 256, sessions: 1024, threads: 1024, batch: 65_536, warmup: 1_000_000, iterations: 1_000_000_000, seconds: 86_400, dim: 16_384 };

/** vamp users type `-i 2 p 2`: a bare letter followed by a value is read as the option, with a warning. */
const BARE = new Map([['i', 'instances'], ['p', 'processes'], ['b', 'batch'], ['s', 'shape'], ['m', 'model']]);

function fixBareOptions(args: ParsedArgs, warn: (l: string) => void): void {
  const pos = args.positionals;
  for (let k = 0; k < pos.length; k += 2) {
    const long = BARE.get(pos[k]);
    if (!long || k + 1 >= pos.length) {
      throw new RebakeError('CLI_USAGE', `unexpected argument "${pos[k]}" (see rebake run --help)`, { file: 'command line' });
    }
    if (args.values[long] !== undefined) throw new RebakeError('CLI_USAGE', `"${pos[k]} ${pos[k + 1]}" repeats -${pos[k]}`, { file: 'command line' });
    warn(`read "${pos[k]} ${pos[k + 1]}" as "-${pos[k]} ${pos[k + 1]}" (missing dash)`);
    args.values[long] = pos[k + 1];
  }
}

function parseShape(s: string): number[] {
  const nums = s.replace(/[[\]()\s]/g, '').split(',').map(Number);
  if (!(nums.length === 3 || nums.length === 4) || nums.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new RebakeError('CLI_USAGE', `-s ${s}: expected [C,H,W] such as [3,224,224]`, { file: 'command line' });
  }
  if (nums.some((n) => n > LIMITS.dim)) throw new RebakeError('CLI_LIMIT', `-s ${s}: a dimension is over the limit of ${LIMITS.dim}`, { file: 'command line' });
  return nums.slice(-3);
}

function summaryLine(r: DatalistSummary, out: string): string {
  const c = r.config;
  const layout = `-p ${c.processes} -i ${c.instances} -b ${c.batch} --threads ${c.threads}${c.shard ? ` --shard ${c.shard}` : ''}`;
  if (r.interrupted) {
    return `rebake run: interrupted after ${r.seconds.toFixed(1)} s: ${r.written} outputs written to ${out} this run, ${r.resumed} already there, ${r.notRun} of ${r.inputs} not run; rerun with --resume to finish`;
  }
  const extra = [r.resumed ? `${r.resumed} already done` : '', r.bad.length ? `${r.bad.length} bad` : '', r.lost.length ? `${r.lost.length} lost` : '', r.notRun ? `${r.notRun} not run` : ''].filter(Boolean);
  return `rebake run: ${r.written} outputs written to ${out} (${r.inputs} inputs${extra.length ? `; ${extra.join(', ')}` : ''}) in ${r.seconds.toFixed(1)} s, ${r.samplesPerSecond.toFixed(1)} samples/s [${layout}]`;
}

export const command: CommandSpec = {
  name: 'run',
  help: HELP,
  positionals: [0, 16],
  options: {
    model: { type: 'string', short: 'm' },
    vdsp_params: { type: 'string' },
    shape: { type: 'string', short: 's' },
    processes: { type: 'string', short: 'p' },
    instances: { type: 'string', short: 'i' },
    batch: { type: 'string', short: 'b' },
    threads: { type: 'string' },
    datalist: { type: 'string' },
    path_output: { type: 'string' },
    resume: { type: 'boolean' },
    'skip-bad': { type: 'boolean' },
    shard: { type: 'string' },
    iterations: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    sweep: { type: 'boolean' },
    report: { type: 'string' },
  },
  async run(args) {
    const warn = (l: string) => process.stderr.write(`rebake: warning: ${l}\n`);
    fixBareOptions(args, warn);
    const modelArg = stringOption(args, 'model');
    if (!modelArg) throw new RebakeError('CLI_USAGE', '-m <model> is required (a build prefix, a build folder or an .onnx file)', { file: 'command line' });
    const datalist = stringOption(args, 'datalist');
    const output = stringOption(args, 'path_output');
    if (Boolean(datalist) !== Boolean(output)) throw new RebakeError('CLI_USAGE', '--datalist and --path_output go together', { file: 'command line' });
    if (!datalist) {
      for (const k of ['resume', 'skip-bad', 'shard']) if (args.values[k] !== undefined) throw new RebakeError('CLI_USAGE', `--${k} needs --datalist`, { file: 'command line' });
    } else {
      for (const k of ['iterations', 'duration', 'warmup', 'sweep']) if (args.values[k] !== undefined) throw new RebakeError('CLI_USAGE', `--${k} is for performance mode (without --datalist)`, { file: 'command line' });
    }
    if (args.values.iterations !== undefined && args.values.duration !== undefined) throw new RebakeError('CLI_USAGE', 'give --iterations or --duration, not both', { file: 'command line' });

    const processes = intOption(args, 'processes', 1, 1, LIMITS.processes);
    const instances = intOption(args, 'instances', 1, 1, LIMITS.instances);
    if (processes * instances > LIMITS.sessions) {
      throw new RebakeError('CLI_LIMIT', `-p ${processes} x -i ${instances} is ${processes * instances} sessions, over the limit of ${LIMITS.sessions}`, { file: 'command line' });
    }
    const vdspFile = stringOption(args, 'vdsp_params');
    const shapeArg = stringOption(args, 'shape');
    const settings: RunSettings = {
      model: resolveModel(modelArg),
      processes,
      instances,
      threads: intOption(args, 'threads', defaultThreads(processes, instances), 1, LIMITS.threads),
      batch: intOption(args, 'batch', 1, 1, LIMITS.batch),
      shape: shapeArg ? parseShape(shapeArg) : undefined,
      // The config loader (ajv, yaml) costs ~60 ms of start-up: loaded only when asked for.
      vdsp: vdspFile ? (await import('../../builders/config/load.js')).loadVdspParams(vdspFile) : undefined,
      vdspFile,
      warn,
    };
    const reportFile = stringOption(args, 'report');
    // Output targets are checked before the models load and the run starts, never after it.
    if (reportFile) checkOutputTarget(reportFile, 'file', '--report');
    if (output) checkOutputTarget(output, 'folder', '--path_output');
    const writeReport = (obj: unknown) => reportFile && writeFileAtomic(reportFile, `${JSON.stringify(obj, null, 2)}\n`);

    if (datalist && output) {
      const shard = stringOption(args, 'shard');
      const r = await runDatalist(settings, { datalist, output, resume: Boolean(args.values.resume), skipBad: Boolean(args.values['skip-bad']), shard: shard ? parseShard(shard) : undefined, progress: true });
      for (const b of r.bad) process.stderr.write(`rebake: skipped bad input: ${b.message}\n`);
      for (const l of r.lost) process.stderr.write(`rebake: not run: ${l.file} (${l.why}; already retried once or no worker left)\n`);
      process.stdout.write(`${summaryLine(r, output)}\npeak RSS: ${formatMemory(r.memory)}\n`);
      writeReport(r);
      if (r.interrupted) return 130;
      return r.lost.length || r.notRun ? 1 : 0;
    }

    const duration = args.values.duration !== undefined ? Number(args.values.duration) : 3;
    if (duration > LIMITS.seconds) throw new RebakeError('CLI_LIMIT', `--duration ${args.values.duration} is over the limit of ${LIMITS.seconds} s`, { file: 'command line' });
    if (!(duration > 0)) throw new RebakeError('CLI_USAGE', `--duration must be a positive number of seconds, got "${args.values.duration}"`, { file: 'command line' });
    const warmup = intOption(args, 'warmup', 2, 0, LIMITS.warmup);
    if (args.values.sweep) {
      process.stdout.write(`sweep: ${duration} s per layout\n`);
      const points = await sweep(settings, { duration, warmup, batches: [1, 4, 8, 16] }, (p) =>
        process.stdout.write(`  ${formatLayout(p).padEnd(40)} ${p.throughput.toFixed(2).padStart(9)} samples/s  p50 ${p.p50.toFixed(2)} ms\n`),
      );
      const b = best(points);
      if (b) process.stdout.write(`best: ${formatLayout(b)} (${b.throughput.toFixed(2)} samples/s)\n`);
      writeReport({ mode: 'sweep', points, best: b });
      return 0;
    }
    const iterations = args.values.iterations !== undefined ? intOption(args, 'iterations', 1, 1, LIMITS.iterations) : undefined;
    const r = await runPerf(settings, { iterations, duration, warmup });
    if (!r) {
      process.stdout.write('rebake run: interrupted while loading the model\n');
      return 130;
    }
    process.stdout.write(`${formatPerf(r)}\n`);
    writeReport(r);
    return r.interrupted ? 130 : 0;
  },
};
