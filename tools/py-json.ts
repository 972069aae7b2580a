/**
 * JSON exactly as Hugging Face writes it from Python: `json.dumps(obj, indent=2, sort_keys=True) + "\n"`.
 * JavaScript numbers do not remember whether Python had an int or a float (`1.0`, `1e-06`), so values that are
 * Python floats are wrapped in PyFloat and printed with Python's float repr.
 */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** Marks a number that Python stores as a float. */
export function pyFloat(value: number): PyFloat {
  return new PyFloat(value);
}

export type PyJson = null | boolean | number | string | PyFloat | PyJson[] | { [key: string]: PyJson };

export function toPythonJson(value: PyJson): string {
  return write(value, '') + '\n';
}

function write(value: PyJson, indent: string): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`py-json: ${value} is not an integer; wrap floats in PyFloat`);
    return String(value);
  }
  if (value instanceof PyFloat) return floatRepr(value.value);
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((item) => inner + write(item, inner)).join(',\n')}\n${indent}]`;
  }
  const keys = Object.keys(value).sort();
  if (keys.length === 0) return '{}';
  const items = keys.map((key) => `${inner}${JSON.stringify(key)}: ${write(value[key] as PyJson, inner)}`);
  return `{\n${items.join(',\n')}\n${indent}}`;
}

/** Python's repr(float): shortest round-trip digits, scientific notation below 1e-4 and from 1e16 on. */
export function floatRepr(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`py-json: ${x} has no JSON form`);
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = x.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  const fixed = String(x);
  return fixed.includes('.') ? fixed : fixed + '.0';
}
