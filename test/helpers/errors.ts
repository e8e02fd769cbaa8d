import { RebakeError } from '../../core/errors.js';

/** The RebakeError that `f` throws; any other error propagates, and no error at all fails the test. */
export function thrownRebakeError(f: () => unknown): RebakeError {
  try {
    f();
  } catch (e) {
    if (e instanceof RebakeError) return e;
    throw e;
  }
  throw new Error('expected a RebakeError');
}
