/**
 * The message links between the runner's processes and threads: a send to a child that has just died must
 * not crash the sender (its 'exit' event reports the death), and a link served on the same thread delivers
 * in order, by reference.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inlineLink, processLink, type ParentEnd } from '../../runtime/link.js';
import { tempDir } from './helpers.js';

describe('processLink', () => {
  it('sends to a child that SIGKILLed itself without an error event; the death comes as onExit', async () => {
    const script = path.join(tempDir('link'), 'die.mjs');
    fs.writeFileSync(script, "process.on('message', () => process.kill(process.pid, 'SIGKILL'));\n");
    const link = processLink<{ n: number }, never>(new URL(`file://${script}`));
    const exited = new Promise<string>((resolve) => link.onExit(resolve));
    link.send({ n: 0 });
    // Wait for the death without letting this thread see it (no event loop turn): the link still looks
    // connected, and the next write meets a closed pipe.
    const dead = () => {
      try {
        return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${link.pid}/stat`, 'latin1'));
      } catch {
        return true;
      }
    };
    for (const t0 = Date.now(); !dead() && Date.now() - t0 < 5000; );
    expect(dead()).toBe(true);
    link.send({ n: 1 });
    link.send({ n: 2 });
    expect(await exited).toBe('SIGKILL');
  });
});

describe('inlineLink', () => {
  it('delivers both ways in order, the same objects, after the sender returns', async () => {
    const seen: unknown[] = [];
    const payload = { data: new Float32Array([1, 2, 3]) };
    let worker!: ParentEnd<string, unknown>;
    const link = inlineLink<string, unknown>((end) => {
      worker = end;
      end.onMessage((m) => {
        seen.push(`worker got ${m}`);
        end.send(m === 'two' ? payload : m);
      });
    });
    const back: unknown[] = [];
    link.onMessage((m) => back.push(m));
    link.send('one');
    link.send('two');
    expect(seen).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['worker got one', 'worker got two']);
    expect(back).toEqual(['one', payload]);
    expect(back[1]).toBe(payload);
    const order: string[] = [];
    worker.sendThen('three', () => order.push('then'));
    link.onMessage(() => order.push('message'));
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['message', 'then']);
  });
});
