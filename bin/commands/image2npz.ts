/** `rebake image2npz`: the zoo's image2npz.py (JPEG folder -> npz files + datalist), on libvips. */
import { RebakeError } from '../../core/errors.js';
import { image2npz } from '../../runtime/image2npz.js';
import { cores } from '../../runtime/start.js';
import { intOption, stringOption, type CommandSpec } from '../args.js';

const HELP = `Usage: rebake image2npz --dataset_path <dir> --target_path <dir> --text_path <list.txt> [--suffix .JPEG] [--jobs N] [--skip-bad]

Decodes every image under --dataset_path (recursively, files ending in --suffix) to RGB, stores it as uint8 [3,H,W]
(original size, key input_0) in <target_path>/<parent folder name>/<name>.npz, and writes the sorted absolute npz
paths to --text_path: the datalist for \`rebake run --datalist\`. The npz files appear together at the end:
a failed conversion leaves none behind.

Options:
  --dataset_path <dir>  the image folder (searched recursively)
  --target_path <dir>   where the npz files go (created if missing)
  --text_path <file>    the datalist to write
  --suffix <s>          file name ending to pick up, case-sensitive (default .JPEG, as the zoo's script)
  --jobs <n>            images decoded at once (default: 2 x cores)
  --skip-bad            leave out images that do not decode and list them (default: stop, write nothing, exit 2)
  -h, --help            this help

Exit codes: 0 success, 2 bad input or usage (one line naming the file and the problem), 1 internal error (with a stack).
`;

export const command: CommandSpec = {
  name: 'image2npz',
  help: HELP,
  options: {
    dataset_path: { type: 'string' },
    target_path: { type: 'string' },
    text_path: { type: 'string' },
    suffix: { type: 'string' },
    jobs: { type: 'string' },
    'skip-bad': { type: 'boolean' },
  },
  async run(args) {
    const datasetPath = stringOption(args, 'dataset_path');
    const targetPath = stringOption(args, 'target_path');
    const textPath = stringOption(args, 'text_path');
    if (!datasetPath || !targetPath || !textPath) {
      throw new RebakeError('CLI_USAGE', '--dataset_path, --target_path and --text_path are required (see rebake image2npz --help)', { file: 'command line' });
    }
    const r = await image2npz({ datasetPath, targetPath, textPath, suffix: stringOption(args, 'suffix') ?? '.JPEG', jobs: intOption(args, 'jobs', 2 * cores(), 1, 1024), progress: true, skipBad: args.values['skip-bad'] === true });
    for (const b of r.bad) process.stderr.write(`rebake: skipped bad image: ${b.message}\n`);
    process.stdout.write(`rebake image2npz: ${r.images} images -> ${targetPath}, datalist ${textPath}, in ${r.seconds.toFixed(2)} s (${r.imagesPerSecond.toFixed(1)} images/s)\n`);
    return 0;
  },
};
