/**
 * Worker thread: the sha256 of one file (workerData: its path), read in 4 MiB chunks so that memory stays
 * flat whatever the size; posts the hex digest. builders/build.ts starts it (sha256InWorker).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

function sha256OfFile(file: string): string {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(1 << 22);
    for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0; ) hash.update(chunk.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

parentPort!.postMessage(sha256OfFile(workerData as string));
