import { status } from '@grpc/grpc-js';
import { DataplaneTokens, TokenMismatchError } from '../auth/dataplane-tokens.js';
import { InvalidTokenError } from '../auth/jwt.js';
import type { KubernetesAuth } from '../auth/kubernetes/kubernetes-auth.js';
import { isServiceAccountToken } from '../auth/kubernetes/service-accounts.js';
import type { Config } from '../config/schema.js';
import type { StoredResource } from '../core/model.js';
import type { ResourceStore } from '../store/store.js';
import { noAuthentication, StreamRefused, type ProxyAuthenticator } from './server/ads-service.js';

/**
 * How a dataplane's credential is checked, shared by xDS/SDS streams and `POST /bootstrap` so both
 * admit exactly the same proxies. Throws InvalidTokenError (not authenticated) or
 * TokenMismatchError (authenticated, but not as this dataplane); messages never carry the credential.
 */
export interface DataplaneCredentialCheck {
  /** Names the credential in refusals ("dataplane token", "service account token"). */
  describe(credential: string): string;
  verify(credential: string, mesh: string, dataplane: StoredResource, peerAddress: string | undefined): Promise<void>;
}

/** `dpToken`: a dataplane token of the mesh that names the Dataplane (or tags it carries). */
export function dataplaneTokenCheck(tokens: DataplaneTokens): DataplaneCredentialCheck {
  return { describe: () => 'dataplane token', verify: (credential, mesh, dataplane, peer) => tokens.verify(credential, mesh, dataplane, peer) };
}

/**
 * `serviceAccountToken`: a Kubernetes service-account JWT, admitted by the Kubernetes auth roles of
 * the mesh; a dataplane token (for instance one that `POST /auth/kubernetes/login` returned) is
 * accepted too.
 */
export function serviceAccountTokenCheck(tokens: DataplaneTokens, kubernetes: KubernetesAuth): DataplaneCredentialCheck {
  return {
    describe: (credential) => (isServiceAccountToken(credential) ? 'service account token' : 'dataplane token'),
    verify: (credential, mesh, dataplane, peer) => (isServiceAccountToken(credential) ? kubernetes.admitProxy(credential, mesh, dataplane, peer) : tokens.verify(credential, mesh, dataplane, peer)),
  };
}

/** The check for `dpServer.authn.dpProxy.type`; undefined for `none`. */
export function credentialCheckFor(config: Config, tokens: DataplaneTokens, kubernetes: KubernetesAuth): DataplaneCredentialCheck | undefined {
  switch (config.dpServer.authn.dpProxy.type) {
    case 'none':
      return undefined;
    case 'serviceAccountToken':
      return serviceAccountTokenCheck(tokens, kubernetes);
    default:
      return dataplaneTokenCheck(tokens);
  }
}

/**
 * A proxy must present a credential the check accepts for its node's Dataplane. Missing, forged,
 * expired or revoked credentials are UNAUTHENTICATED; a valid one for another dataplane is
 * PERMISSION_DENIED.
 */
export function credentialAuthenticator(store: ResourceStore, check: DataplaneCredentialCheck): ProxyAuthenticator {
  return {
    async authenticate(identity, credential, _node, peerAddress) {
      if (!credential) {
        throw new StreamRefused(status.UNAUTHENTICATED, 'a dataplane token is required: send it as gRPC metadata "authorization" or in node.metadata["dataplane.token"]');
      }
      const dataplane = await store.get({ type: 'Dataplane', mesh: identity.mesh, name: identity.name });
      if (!dataplane) throw new StreamRefused(status.NOT_FOUND, `Dataplane "${identity.name}" not found in mesh "${identity.mesh}": create it before starting the proxy`);
      try {
        await check.verify(credential, identity.mesh, dataplane, peerAddress);
      } catch (err) {
        if (err instanceof TokenMismatchError) throw new StreamRefused(status.PERMISSION_DENIED, `${check.describe(credential)} does not admit ${identity.nodeId}: ${err.message}`);
        if (err instanceof InvalidTokenError) throw new StreamRefused(status.UNAUTHENTICATED, `invalid ${check.describe(credential)}: ${err.reason}`);
        throw err;
      }
    },
  };
}

export function proxyAuthenticatorFor(store: ResourceStore, check: DataplaneCredentialCheck | undefined): ProxyAuthenticator {
  return check ? credentialAuthenticator(store, check) : noAuthentication;
}
