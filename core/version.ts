import fs from 'node:fs';
import { packageFile } from './paths.js';

let cached: string | undefined;

export function packageVersion(): string {
  return (cached ??= (JSON.parse(fs.readFileSync(packageFile('package.json'), 'utf8')) as { version: string }).version);
}
