/** A one-line progress bar with rate and ETA, drawn only on a terminal (stderr) and at most 10 times a second. */

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export class Progress {
  private done = 0;
  private last = 0;
  private readonly t0 = performance.now();
  private readonly on: boolean;

  /** Drawn when `enabled` and stderr is a terminal. */
  constructor(
    private readonly total: number,
    private readonly unit: string,
    enabled = true,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.on = enabled && Boolean(stream.isTTY) && total > 0;
  }

  tick(n = 1): void {
    this.done += n;
    const now = performance.now();
    if (!this.on || (now - this.last < 100 && this.done < this.total)) return;
    this.last = now;
    const secs = (now - this.t0) / 1000;
    const rate = this.done / secs;
    const frac = this.done / this.total;
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const line = `${String(this.done).padStart(String(this.total).length)}/${this.total} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${rate.toFixed(1)} ${this.unit}/s ETA ${formatDuration((this.total - this.done) / rate)}`;
    this.stream.write(`\r${line}\x1b[K`);
  }

  /** Erase the bar so the summary line that follows stands alone. */
  clear(): void {
    if (this.on) this.stream.write('\r\x1b[K');
  }
}
