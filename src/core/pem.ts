/** DER bytes as a PEM block of `label` (64 base64 characters a line). */
export function pem(label: string, der: Uint8Array | ArrayBuffer): string {
  const bytes = der instanceof ArrayBuffer ? Buffer.from(der) : Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const b64 = bytes.toString('base64');
  // Lines of 64 by slicing: a global regular expression cost a certificate about 20 µs.
  const lines: string[] = [];
  for (let at = 0; at < b64.length; at += 64) lines.push(b64.slice(at, at + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
