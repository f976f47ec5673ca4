import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwClient } from './ads-client.js';

/**
 * The identity (certificate, key) and mesh CA the control plane issues to `{mesh}.{name}`, fetched
 * over SDS from loopback, as an agent beside a proxyless gRPC application would.
 */
export async function meshIdentity(xdsAddress: string, name: string, mesh = 'default'): Promise<{ cert: string; key: string; ca: string }> {
  const sds = new SotwClient(xdsAddress, `${mesh}.${name}`);
  try {
    sds.request(TYPE_URLS.secret, [`identity_cert:secret:${mesh}`, `mesh_ca:secret:${mesh}`]);
    const r = await sds.expect(TYPE_URLS.secret, 10_000);
    const byName = new Map(r.decoded.map((s) => [String(s.name), s as Record<string, any>]));
    const text = (b: unknown) => (typeof b === 'string' ? Buffer.from(b, 'base64') : Buffer.from(b as Uint8Array)).toString();
    const id = byName.get(`identity_cert:secret:${mesh}`)!.tls_certificate;
    return { cert: text(id.certificate_chain.inline_bytes), key: text(id.private_key.inline_bytes), ca: text(byName.get(`mesh_ca:secret:${mesh}`)!.validation_context.trusted_ca.inline_bytes) };
  } finally {
    sds.close();
  }
}
