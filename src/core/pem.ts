/** DER bytes as a PEM block of `label` (64 base64 characters a line). */
export function pem(label: string, der: Uint8Array | ArrayBuffer): string {
  const bytes = der instanceof ArrayBuffer ? Buffer.from(der) : Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const b64 = bytes.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}
