import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import type { GeneratedResource } from './types.js';

/** One part of what a shared resource is built from: compared by value (strings, numbers) as a Map key. */
export type KeyPart = string | number | boolean | undefined;

interface KeyNode {
  resource?: GeneratedResource;
  next?: Map<KeyPart, KeyNode>;
}

/**
 * Generated resources by everything they are built from, per mesh snapshot. Proxies with equal
 * inputs get the same object (as clusters and endpoints of a service are shared), so the
 * policies' shared edits and the encoder do their work once, not per proxy. Policies edit
 * copies (`Edits`), never these objects.
 *
 * The key is a list of parts walked through nested maps: the parts are mostly strings every proxy
 * already holds (a service name, an address), whose hashes are kept, where a key text joined per
 * proxy and outbound had to be built and hashed each time (the largest cost of the outbound generator).
 */
const perSnapshot = new WeakMap<MeshSnapshot, KeyNode>();
export function sharedResource(mesh: MeshSnapshot, key: readonly KeyPart[], build: () => GeneratedResource): GeneratedResource {
  let node: KeyNode | undefined = perSnapshot.get(mesh);
  if (!node) perSnapshot.set(mesh, (node = {}));
  for (const part of key) {
    const next: Map<KeyPart, KeyNode> = (node.next ??= new Map());
    let child: KeyNode | undefined = next.get(part);
    if (!child) next.set(part, (child = {}));
    node = child;
  }
  return (node.resource ??= build());
}
