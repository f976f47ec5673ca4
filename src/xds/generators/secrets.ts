import { TYPE_URLS } from '../resources.js';
import { identitySecretName, meshCaSecretName } from './envoy.js';
import type { GeneratedResource, Generator, ProxyIdentityMaterial } from './types.js';

const b64 = (pem: string) => Buffer.from(pem).toString('base64');

/**
 * SDS: the proxy's identity certificate and key (`identity_cert:secret:{mesh}`) and the mesh trust
 * bundle (`mesh_ca:secret:{mesh}`), when the mesh has mTLS on and an identity was issued. Proxyless
 * dataplanes have them too: a gRPC library never asks for secrets, but the agent beside it
 * (`skiff-dp certs`) fetches them over SDS into the files its certificate provider watches.
 */
export const secretsGenerator: Generator = {
  name: 'secrets',
  generate(proxy, mesh) {
    if (!proxy.identity || !mesh.mtls) return [];
    return secretsOf(mesh.mesh, proxy.identity);
  },
};

/**
 * The same objects for the same identity (and one trust bundle object per mesh CA), so the encoder
 * finds them by identity instead of hashing their JSON: every proxy's bundle is the same, and a
 * proxy regenerated with the certificate it has gets the secrets it was sent.
 */
const byIdentity = new WeakMap<ProxyIdentityMaterial, { mesh: string; resources: GeneratedResource[] }>();
const bundles = new Map<string, GeneratedResource>();
/** Bounds the trust bundles kept (one per mesh CA in use; more only while CAs rotate). */
const MAX_BUNDLES = 64;

function secretsOf(meshName: string, material: ProxyIdentityMaterial): GeneratedResource[] {
  const known = byIdentity.get(material);
  if (known?.mesh === meshName) return [...known.resources];
  const identity = identitySecretName(meshName);
  const ca = meshCaSecretName(meshName);
  const bundleKey = `${meshName}\u0000${material.caPem}`;
  let bundle = bundles.get(bundleKey);
  if (!bundle) {
    if (bundles.size >= MAX_BUNDLES) bundles.clear();
    bundle = { typeUrl: TYPE_URLS.secret, name: ca, resource: { name: ca, validation_context: { trusted_ca: { inline_bytes: b64(material.caPem) } } } };
    bundles.set(bundleKey, bundle);
  }
  const resources: GeneratedResource[] = [
    {
      typeUrl: TYPE_URLS.secret,
      name: identity,
      resource: { name: identity, tls_certificate: { certificate_chain: { inline_bytes: b64(material.certPem) }, private_key: { inline_bytes: b64(material.keyPem) } } },
    },
    bundle,
  ];
  byIdentity.set(material, { mesh: meshName, resources });
  return [...resources];
}
