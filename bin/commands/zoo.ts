import path from 'node:path';
import { checkOutputTarget, ensureDir } from '../../core/fsutil.js';
import { saveModel } from '../../builders/ir/model.js';
import { ARCHS } from '../../builders/zoo/archs.js';
import { repvggModel, zooArch, ZOO_OPSETS } from '../../builders/zoo/repvgg.js';
import { RebakeError } from '../../core/errors.js';
import { intOption, stringOption, type CommandSpec } from '../args.js';

const archList = Object.values(ARCHS)
  .map((a) => a.name)
  .join(', ');

export const command: CommandSpec = {
  name: 'zoo',
  help: `Usage: rebake zoo <arch> --out file.onnx [--seed N] [--dynamic-batch] [--bn-folded] [--size S] [--opset 11|13]

Writes a train-time RepVGG of the official architecture with seeded random weights and non-trivial
BatchNormalization statistics, shaped like a PyTorch export: by default every branch keeps its
BatchNormalization (state-dict names); --bn-folded writes the default eval export instead (3x3 and 1x1
convs with the BN folded in, only the identity BatchNormalization left).

Architectures: ${archList}
  (tiny, tiny-g4, tiny-g2-se: small shapes for tests, 10 classes)

Options:
  --out FILE        where to write the model (required; missing folders are created)
  --seed N          weight seed (default 0)
  --dynamic-batch   input [batch_size, 3, S, S] with a Shape/Gather/Unsqueeze/Concat/Reshape flatten
  --bn-folded       the eval-export flavour
  --size S          input height and width, a multiple of 32 (default 224)
  --opset N         ${ZOO_OPSETS.join(' or ')} (default 13)
  -h, --help        this help

Exit codes: 0 success, 2 bad input or usage (one line naming the file and the problem), 1 internal error (with a stack).`,
  options: {
    out: { type: 'string' },
    seed: { type: 'string' },
    'dynamic-batch': { type: 'boolean' },
    'bn-folded': { type: 'boolean' },
    size: { type: 'string' },
    opset: { type: 'string' },
  },
  positionals: [1, 1],
  async run(args) {
    const out = stringOption(args, 'out');
    if (!out) throw new RebakeError('CLI_USAGE', '--out FILE is required (see rebake zoo --help)', { file: 'command line' });
    const arch = zooArch(args.positionals[0]);
    checkOutputTarget(out, 'file', '--out');
    const model = repvggModel(arch, {
      seed: intOption(args, 'seed', 0, 0),
      dynamicBatch: args.values['dynamic-batch'] === true,
      bnFolded: args.values['bn-folded'] === true,
      inputSize: intOption(args, 'size', 224, 1, 8192),
      opset: intOption(args, 'opset', 13, 1, 100),
    });
    ensureDir(path.dirname(path.resolve(out)));
    const saved = saveModel(model, out);
    process.stdout.write(`${out}: RepVGG-${arch.name} train-time, ${(saved.bytes / 1e6).toFixed(1)} MB\n`);
    return 0;
  },
};
