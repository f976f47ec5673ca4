import { status } from '@grpc/grpc-js';
import { DataplaneTokens, TokenMismatchError } from '../auth/dataplane-tokens.js';
import { InvalidTokenError } from '../auth/jwt.js';
import type { Config } from '../config/schema.js';
import type { ResourceStore } from '../store/store.js';
import { noAuthentication, StreamRefused, type ProxyAuthenticator } from './server/ads-service.js';

/**
 * `dpServer.authn.dpProxy.type: dpToken`: a proxy must present a dataplane token of its node's mesh
 * that names its Dataplane (or tags it carries). A missing, forged, expired or revoked token is
 * UNAUTHENTICATED; a valid token for another dataplane is PERMISSION_DENIED.
 */
export function dataplaneTokenAuthenticator(store: ResourceStore, tokens: DataplaneTokens): ProxyAuthenticator {
  return {
    async authenticate(identity, credential) {
      if (!credential) {
        throw new StreamRefused(status.UNAUTHENTICATED, 'a dataplane token is required: send it as gRPC metadata "authorization" or in node.metadata["dataplane.token"]');
      }
      const dataplane = await store.get({ type: 'Dataplane', mesh: identity.mesh, name: identity.name });
      if (!dataplane) throw new StreamRefused(status.NOT_FOUND, `Dataplane "${identity.name}" not found in mesh "${identity.mesh}": create it before starting the proxy`);
      try {
        await tokens.verify(credential, identity.mesh, dataplane);
      } catch (err) {
        if (err instanceof TokenMismatchError) throw new StreamRefused(status.PERMISSION_DENIED, `dataplane token does not admit ${identity.nodeId}: ${err.message}`);
        if (err instanceof InvalidTokenError) throw new StreamRefused(status.UNAUTHENTICATED, `invalid dataplane token: ${err.reason}`);
        throw err;
      }
    },
  };
}

export function proxyAuthenticatorFor(config: Config, store: ResourceStore, tokens: DataplaneTokens): ProxyAuthenticator {
  const type = config.dpServer.authn.dpProxy.type;
  if (type === 'none') return noAuthentication;
  if (type === 'dpToken') return dataplaneTokenAuthenticator(store, tokens);
  throw new Error(`dpServer.authn.dpProxy.type "${type}" is not available yet (the Kubernetes auth issue adds it); use "dpToken" or "none"`);
}
