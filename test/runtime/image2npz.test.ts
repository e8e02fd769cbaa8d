/**
 * `rebake image2npz` on the committed photos: the decode equals OpenCV's imread + BGR2RGB byte for byte
 * (sha256 from tools/make_photo_fixture.py; rocket.jpg carries an ICC profile that must not be applied),
 * npz layout and datalist as the zoo's script writes them, numpy reads them.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpz } from '../../core/npz.js';
import { cli, lines, python, tempDir } from './helpers.js';

const PHOTOS = path.resolve('test/fixtures/photos');
const OPENCV = JSON.parse(fs.readFileSync(path.join(PHOTOS, 'opencv.json'), 'utf8')) as Record<string, { shape: number[]; sha256: string }>;

describe('image2npz', () => {
  it('decodes like OpenCV, keeps the folder name, writes a sorted absolute datalist numpy can follow', () => {
    const dir = tempDir('i2n');
    const target = path.join(dir, 'npz');
    const list = path.join(dir, 'list.txt');
    const r = cli(['image2npz', '--dataset_path', PHOTOS, '--target_path', target, '--text_path', list, '--suffix', '.jpg']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^rebake image2npz: 4 images -> .* in [\d.]+ s \([\d.]+ images\/s\)\n$/);
    const entries = lines(fs.readFileSync(list, 'utf8'));
    expect(entries).toEqual(['astronaut', 'chelsea', 'coffee', 'rocket'].map((n) => path.join(target, 'photos', `${n}.npz`)));
    for (const e of entries) {
      const a = readNpz(e).get('input_0')!;
      const ref = OPENCV[`${path.basename(e, '.npz')}.jpg`];
      expect(a.dtype).toBe('uint8');
      expect(a.shape).toEqual(ref.shape);
      expect(crypto.createHash('sha256').update(a.data as Uint8Array).digest('hex')).toBe(ref.sha256);
    }
    const np = python(`import sys, numpy as np\nfor l in open(sys.argv[1]):\n    z = np.load(l.strip()); print(z.files, z['input_0'].dtype, z['input_0'].shape)`, [list]);
    expect(lines(np)).toEqual(["['input_0'] uint8 (3, 512, 512)", "['input_0'] uint8 (3, 300, 451)", "['input_0'] uint8 (3, 400, 600)", "['input_0'] uint8 (3, 427, 640)"]);
  });

  it('bad input: no such folder, no matching files, an undecodable image', () => {
    const dir = tempDir('i2n-bad');
    const go = (ds: string, suffix = '.JPEG') => cli(['image2npz', '--dataset_path', ds, '--target_path', path.join(dir, 't'), '--text_path', path.join(dir, 'l.txt'), '--suffix', suffix]);
    const missing = path.join(dir, 'nope');
    expect(lines(go(missing).stderr)).toEqual([`rebake: ${missing}: no such folder (expected a folder of images, e.g. ImageNet val/<synset>/*.JPEG)`]);
    expect(lines(go(PHOTOS).stderr)).toEqual([`rebake: ${PHOTOS}: no files ending in ".JPEG" under this folder (see --suffix)`]);
    fs.mkdirSync(path.join(dir, 'ds', 'n0'), { recursive: true });
    const broken = path.join(dir, 'ds', 'n0', 'broken.JPEG');
    fs.writeFileSync(broken, fs.readFileSync(path.join(PHOTOS, 'chelsea.jpg')).subarray(0, 50));
    const r = go(path.join(dir, 'ds'));
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr.startsWith(`rebake: ${broken}: cannot decode the image: `)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'l.txt'))).toBe(false);
  });
});
