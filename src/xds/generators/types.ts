import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import type { DataplaneEntry } from '../../core/mesh-snapshot.js';
import type { TypeUrl } from '../resources.js';

/** One generated Envoy resource: readable proto3-JSON-like object, snake_case fields. */
export interface GeneratedResource {
  typeUrl: TypeUrl;
  name: string;
  /** Treat as immutable: resources shared by many proxies are the same object. */
  resource: Record<string, unknown>;
}

/** What a generator knows about the proxy it works for. */
export interface ProxyContext {
  /** `{mesh}.{name}` */
  nodeId: string;
  dataplane: DataplaneEntry;
  /** Proxyless gRPC clients get `api_listener`s instead of socket listeners. */
  proxyless: boolean;
  /** The dataplane's SVID and the mesh trust bundle, when the mesh has mTLS on and one was issued. */
  identity?: ProxyIdentityMaterial;
  /** Envoy's admin port from the proxy's bootstrap (node metadata `dataplane.admin.port`), when it said. */
  adminPort?: number;
}

export interface ProxyIdentityMaterial {
  spiffeId: string;
  certPem: string;
  keyPem: string;
  caPem: string;
}

/** A pure function from a proxy and its mesh to resources; `name` identifies it in errors. */
export interface Generator {
  name: string;
  generate(proxy: ProxyContext, mesh: MeshSnapshot): GeneratedResource[];
}
