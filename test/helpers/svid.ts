import 'reflect-metadata'; // before @peculiar/x509
import * as x509 from '@peculiar/x509';

/** Every X509-SVID rule (spiffe/spiffe standards/X509-SVID.md) a leaf must pass. */
export function svidProblems(pem: string, expectedId: string): string[] {
  const problems: string[] = [];
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
  if (uris.length !== 1) problems.push(`expected exactly one URI SAN, got ${uris.length}`);
  if (uris[0] !== expectedId) problems.push(`URI SAN ${uris[0]} is not ${expectedId}`);
  if (!/^spiffe:\/\/[a-z0-9._-]+(\/[a-zA-Z0-9._-]+)+$/.test(uris[0] ?? '')) problems.push('SPIFFE ID format');
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (!basic || basic.ca) problems.push('leaf must have cA=false');
  const usage = cert.getExtension(x509.KeyUsagesExtension);
  if (!usage?.critical) problems.push('keyUsage must be critical');
  if (!usage || !(usage.usages & x509.KeyUsageFlags.digitalSignature)) problems.push('keyUsage needs digitalSignature');
  if (usage && usage.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) problems.push('leaf must not have keyCertSign or cRLSign');
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  for (const want of [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]) if (!eku?.usages.includes(want)) problems.push(`EKU needs ${want}`);
  if (cert.notBefore.getTime() > Date.now()) problems.push('not yet valid');
  if (cert.notAfter.getTime() <= Date.now()) problems.push('expired');
  return problems;
}

