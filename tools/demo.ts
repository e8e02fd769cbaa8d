/**
 * npm run demo: the main job end to end, with the commands a user would type.
 *   zoo RepVGG-A0 (seeded random weights) -> build configs/official_repvgg.yaml -> image2npz the sample
 *   photos -> run the datalist -> top-5 per photo with ImageNet class names -> a short performance run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../core/paths.js';
import { readDatalist, textLines } from '../core/datalist.js';
import { outputName } from '../runtime/datalist.js';
import { scoresOf, topK, pyFixed } from '../runtime/eval.js';

const root = packageRoot();
const cli = path.join(root, 'bin', 'rebake.js');
const demo = 'deploy_weights/demo';

function rebake(args: string[]): void {
  process.stdout.write(`\n$ rebake ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`demo: rebake ${args[0]} failed (exit ${r.status})\n`);
    process.exit(r.status ?? 1);
  }
}

process.stdout.write(`rebake demo
NOTE: the zoo model's weights are RANDOM (seeded), not trained: its predictions below are meaningless. The demo
shows the pipeline (build, image2npz, run, decode, performance); a trained model replaces it in a later release.
`);
fs.rmSync(path.join(root, demo), { recursive: true, force: true });
rebake(['zoo', 'a0', '--out', 'deploy_weights/zoo/repvgg_a0.onnx']);
rebake(['build', 'configs/official_repvgg.yaml']);
rebake(['image2npz', '--dataset_path', 'test/fixtures/photos', '--target_path', `${demo}/npz`, '--text_path', `${demo}/npz_datalist.txt`, '--suffix', '.jpg']);
rebake(['run', '-m', 'deploy_weights/official_repvgg_a0_fp32/mod', '-i', '1', '-p', '1', '-b', '8', '--datalist', `${demo}/npz_datalist.txt`, '--path_output', `${demo}/output`]);

const labels = textLines(path.join(root, 'eval', 'imagenet.txt'), 'the ImageNet label list');
const entries = readDatalist(path.join(root, demo, 'npz_datalist.txt'));
process.stdout.write(`\ntop-5 per photo (random weights: expect nonsense):\n`);
entries.forEach((e, i) => {
  const scores = scoresOf(path.join(root, demo, 'output', outputName(i, entries.length, e)));
  process.stdout.write(`  ${path.basename(e, '.npz')}\n`);
  for (const id of topK(scores, 5)) process.stdout.write(`    ${pyFixed(scores[id], 4)}  ${String(id).padStart(3)}  ${labels[id]}\n`);
});

rebake(['run', '-m', 'deploy_weights/official_repvgg_a0_fp32/mod', '-b', '8', '--duration', '3', '--report', `${demo}/performance.json`]);
process.stdout.write(`\nreport: ${demo}/performance.json; outputs: ${demo}/output/ (numpy: np.load(f)['output_0'])\n`);
