/**
 * Errors. A RebakeError is the user's fault (bad config, bad model, bad data): the CLI prints its one-line
 * message and exits 2. Anything else is our fault: the CLI prints the stack and exits 1.
 */

/** Where in the user's text a problem is: file, optional 1-based line/column, optional key path. */
export interface SourceLocation {
  file: string;
  line?: number;
  column?: number;
  /** Dotted key path inside a config, e.g. `backend.dtype` or `process_ops[2].size`. */
  path?: string;
}

/** Control characters (a newline in a file name, say) escaped, so that an error stays one line. */
export function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

export function formatLocation(loc: SourceLocation): string {
  let s = loc.file;
  if (loc.line !== undefined) s += `:${loc.line}` + (loc.column !== undefined ? `:${loc.column}` : '');
  if (loc.path) s += ` ${loc.path}`;
  return s;
}

export class RebakeError extends Error {
  /** Stable machine-readable code, e.g. `CONFIG_ENUM`, `ONNX_TRUNCATED`. */
  readonly code: string;
  readonly location?: SourceLocation;
  readonly detail: string;

  constructor(code: string, detail: string, location?: SourceLocation) {
    super(oneLine(location ? `${formatLocation(location)}: ${detail}` : detail));
    this.name = 'RebakeError';
    this.code = code;
    this.detail = detail;
    this.location = location;
  }
}

/** A broken invariant inside rebake (never the user's fault). */
export class InternalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InternalError';
  }
}

export function isRebakeError(e: unknown): e is RebakeError {
  return e instanceof RebakeError;
}
