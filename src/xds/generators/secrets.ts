import { TYPE_URLS } from '../resources.js';
import { identitySecretName, meshCaSecretName } from './envoy.js';
import type { Generator } from './types.js';

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
    const identity = identitySecretName(mesh.mesh);
    const ca = meshCaSecretName(mesh.mesh);
    return [
      {
        typeUrl: TYPE_URLS.secret,
        name: identity,
        resource: { name: identity, tls_certificate: { certificate_chain: { inline_bytes: b64(proxy.identity.certPem) }, private_key: { inline_bytes: b64(proxy.identity.keyPem) } } },
      },
      { typeUrl: TYPE_URLS.secret, name: ca, resource: { name: ca, validation_context: { trusted_ca: { inline_bytes: b64(proxy.identity.caPem) } } } },
    ];
  },
};
