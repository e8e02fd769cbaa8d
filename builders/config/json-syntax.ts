/**
 * Where a JSON text first breaks, in our own words. JSON.parse's messages change between Node versions,
 * quote the user's text (newlines included) and often give no position; a vdsp params error must name the
 * line and column and say what was expected there.
 */

export interface JsonSyntaxError {
  offset: number;
  detail: string;
}

class Broken {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {}
}

/** The first syntax error of `text` (RFC 8259), or undefined when it is valid JSON. */
export function jsonSyntaxError(text: string): JsonSyntaxError | undefined {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const found = () => (i >= text.length ? 'the end of the file' : `${JSON.stringify(text[i])}`);
  const fail = (expected: string): never => {
    throw new Broken(i, `expected ${expected}, found ${found()}`);
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail('a value (an object, list, string, number, true, false or null)');
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail('a closing quote "');
      const ch = text[i];
      if (ch === '"') return void i++;
      if (ch < ' ') fail('a closing quote " before the end of the line (or an escape such as \\n)');
      if (ch === '\\') {
        i++;
        if (text[i] === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) i += 5;
        else if (i < text.length && '"\\/bfnrt'.includes(text[i])) i++;
        else fail('an escape (\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX)');
      } else i++;
    }
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail('a number');
    i += m![0].length;
  };
  const value = (depth: number): void => {
    if (depth > 200) fail('less nesting (over 200 levels)');
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a key in double quotes');
        string();
        ws();
        if (text[i] !== ':') fail('":" after the key');
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail('"," or "}"');
      }
    }
    if (ch === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail('"," or "]"');
      }
    }
    if (ch === '"') return string();
    if (ch === '-' || (ch >= '0' && ch <= '9')) return number();
    if (ch === 't') return literal('true');
    if (ch === 'f') return literal('false');
    if (ch === 'n') return literal('null');
    fail('a value (an object, list, string, number, true, false or null)');
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail('the end of the file after the top-level value');
    return undefined;
  } catch (e) {
    if (e instanceof Broken) return { offset: e.offset, detail: e.detail };
    throw e;
  }
}
