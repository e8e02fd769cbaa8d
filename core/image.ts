/**
 * Image decoding: libvips through sharp, made to match OpenCV's imread + BGR2RGB: EXIF orientation applied,
 * embedded ICC profiles NOT applied (OpenCV ignores them; applying rocket.jpg's moved pixels by up to 55).
 * `rebake image2npz` and calibration decode every image through this one function.
 */
import sharp from 'sharp';
import { RebakeError } from './errors.js';

/** Decode one image (a path, or its bytes read from `file`) to uint8 RGB planar [3,H,W]. */
export async function decodeImage(source: string | Buffer, file = String(source)): Promise<{ data: Uint8Array; shape: [number, number, number] }> {
  let raw: { data: Buffer; info: sharp.OutputInfo };
  try {
    raw = await sharp(source).rotate().keepIccProfile().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch {
    throw new RebakeError('IMAGE_DECODE', 'cannot decode the image: not a supported format (JPEG, PNG, WebP, TIFF, GIF, AVIF) or a corrupt file', { file });
  }
  const { width: w, height: h, channels } = raw.info;
  if (channels !== 3) throw new RebakeError('IMAGE_DECODE', `decoded to ${channels} channels, expected RGB`, { file });
  const hwc = raw.data;
  const chw = new Uint8Array(3 * h * w);
  const plane = h * w;
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    chw[i] = hwc[j];
    chw[plane + i] = hwc[j + 1];
    chw[2 * plane + i] = hwc[j + 2];
  }
  return { data: chw, shape: [3, h, w] };
}

