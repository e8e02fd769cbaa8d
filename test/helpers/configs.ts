/** A shipped config (configs/<name>.yaml) copied into a test folder: paths made absolute, the build going there. */
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';

export function shippedConfig(name: string, dir: string, edit: (config: Record<string, any>) => void = () => {}): { file: string; name: string } {
  const config = parse(fs.readFileSync(path.join('configs', `${name}.yaml`), 'utf8'));
  const fromConfigs = (p: string) => path.resolve('configs', p);
  config.frontend.checkpoint = fromConfigs(config.frontend.checkpoint);
  if (config.vdsp_params) config.vdsp_params = fromConfigs(config.vdsp_params);
  if (config.dataset?.path) config.dataset.path = fromConfigs(config.dataset.path);
  config.workspace = { path: path.join(dir, 'ws') };
  edit(config);
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, stringify(config));
  return { file, name: config.name };
}
