const NAME = /^[0-9a-z][0-9a-z._-]*$/;
export const MAX_NAME_LENGTH = 253;

/**
 * Kuma's naming rule for Universal resources: lowercase letters, digits, '-', '_' and '.',
 * starting with a letter or digit, at most 253 characters. Returns an error message or undefined.
 */
export function checkName(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'cannot be empty';
  if (name.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters`;
  if (!NAME.test(name)) {
    return "invalid name: valid characters are numbers, lowercase latin letters and '-', '_', '.' symbols, and it must start with a letter or number";
  }
  return undefined;
}
