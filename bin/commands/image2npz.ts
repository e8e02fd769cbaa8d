/** `rebake image2npz`: the zoo's image2npz.py (JPEG folder -> npz files + datalist), on libvips. */
import { RebakeError } from '../../core/errors.js';
import { image2npz } from '../../runtime/image2npz.js';
import { cores } from '../../runtime/start.js';
import { intOption, stringOption, type CommandSpec } from '../args.js';

const HELP = `rebake image2npz --dataset_path <dir> --target_path <dir> --text_path <list.txt> [--suffix .JPEG] [--jobs N]

Decodes every image under --dataset_path (recursively, files ending in --suffix) to RGB, stores it as uint8 [3,H,W]
(original size, key input_0) in <target_path>/<parent folder name>/<name>.npz, and writes the sorted absolute npz
paths to --text_path: the datalist for \`rebake run --datalist\`.
  --suffix <s>   file name ending to pick up, case-sensitive (default .JPEG, as the zoo's script)
  --jobs <n>     images decoded at once (default: 2 x cores)
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
  },
  async run(args) {
    const datasetPath = stringOption(args, 'dataset_path');
    const targetPath = stringOption(args, 'target_path');
    const textPath = stringOption(args, 'text_path');
    if (!datasetPath || !targetPath || !textPath) {
      throw new RebakeError('CLI_USAGE', '--dataset_path, --target_path and --text_path are required (see rebake image2npz --help)', { file: 'rebake image2npz' });
    }
    const r = await image2npz({ datasetPath, targetPath, textPath, suffix: stringOption(args, 'suffix') ?? '.JPEG', jobs: intOption(args, 'jobs', 2 * cores()), progress: true });
    process.stdout.write(`rebake image2npz: ${r.images} images -> ${targetPath}, datalist ${textPath}, in ${r.seconds.toFixed(2)} s (${r.imagesPerSecond.toFixed(1)} images/s)\n`);
    return 0;
  },
};
