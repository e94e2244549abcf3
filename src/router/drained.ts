// Waiting for a response stream to drain (or close), without leaving listeners behind.
import type { Writable } from 'node:stream';

export function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
