/** `rebake eval`: top-1 / top-k accuracy of run outputs; eval/vamp_eval.py prints the same numbers. */
import { packageFile } from '../../core/paths.js';
import { evaluate, formatEval } from '../../runtime/eval.js';
import { intOption, stringOption, type CommandSpec } from '../args.js';
import { RebakeError } from '../../core/errors.js';
import { checkOutputTarget } from '../../core/fsutil.js';

const HELP = `Usage: rebake eval --result_path <dir> --datalist <list.txt> [options]

Top-1 and top-k accuracy of the outputs of \`rebake run\` (or vamp): output_0 of each output npz is the score vector.

Options:
  --result_path <dir>    the run's --path_output
  --datalist <list.txt>  the datalist the run used
  --label <labels.txt>   class names, one per line, line index = class id (default: the shipped ImageNet list)
  --gt <gt.txt>          ground truth lines "<npz path> <class id>"; without it, each entry's parent folder is its
                         class: a class id, or an ImageNet synset (val/<wnid>/, as valprep.sh makes)
  --synsets <file>       ImageNet wnids in class order (default: the label file when its lines start with the wnid,
                         or eval/imagenet_synsets.txt when the label file holds its class names, as eval/imagenet.txt)
  --topk <k>             (default 5)
  --decode <result.txt>  also write the zoo's result format: k lines per image,
                         "<input path>: Relay top-<r> id: <id>, prob: <score>, class name: <label>";
                         alone, for images without ground truth: the top-k only, no accuracy
  -h, --help             this help

Outputs pair with datalist entries by rebake's <index>_<name>.npz names, else (other runners) by sorted name order.
The same numbers: python3 eval/vamp_eval.py with the same arguments (numpy only).

Exit codes: 0 success, 2 bad input or usage (one line naming the file and the problem), 1 internal error (with a stack).
`;

export const command: CommandSpec = {
  name: 'eval',
  help: HELP,
  options: {
    result_path: { type: 'string' },
    datalist: { type: 'string' },
    label: { type: 'string' },
    gt: { type: 'string' },
    synsets: { type: 'string' },
    topk: { type: 'string' },
    decode: { type: 'string' },
  },
  async run(args) {
    const resultPath = stringOption(args, 'result_path');
    const datalist = stringOption(args, 'datalist');
    if (!resultPath || !datalist) throw new RebakeError('CLI_USAGE', '--result_path and --datalist are required (see rebake eval --help)', { file: 'command line' });
    const decode = stringOption(args, 'decode');
    if (decode) checkOutputTarget(decode, 'file', '--decode');
    const r = evaluate({
      resultPath,
      datalist,
      label: stringOption(args, 'label') ?? packageFile('eval', 'imagenet.txt'),
      gt: stringOption(args, 'gt'),
      synsets: stringOption(args, 'synsets'),
      topk: intOption(args, 'topk', 5, 1, 1000),
      decode,
    });
    for (const w of r.warnings) process.stderr.write(`rebake: warning: ${w}\n`);
    process.stdout.write(`${formatEval(r).join('\n')}\n`);
    return 0;
  },
};
