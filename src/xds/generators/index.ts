import type { MeshSnapshot } from '../../core/mesh-snapshot.js';
import { inboundGenerator } from './inbound.js';
import { outboundGenerator } from './outbound.js';
import { proxylessGenerator } from './proxyless.js';
import { secretsGenerator } from './secrets.js';
import type { GeneratedResource, Generator, ProxyContext } from './types.js';

/** Every generator, in the order their output is assembled. One concern each, each golden-tested. */
export const GENERATORS: readonly Generator[] = [secretsGenerator, inboundGenerator, outboundGenerator, proxylessGenerator];

/** A generator failed; the message names it and the proxy. */
export class GeneratorError extends Error {
  constructor(generator: string, nodeId: string, cause: unknown) {
    super(`generator "${generator}" failed for ${nodeId}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'GeneratorError';
  }
}

/**
 * All resources of one proxy: a pure function of the proxy and its mesh. A name generated twice
 * for one type is kept once (the first), so a response never carries a name twice.
 */
export function generateProxyResources(proxy: ProxyContext, mesh: MeshSnapshot, generators: readonly Generator[] = GENERATORS): GeneratedResource[] {
  const seen = new Set<string>();
  const out: GeneratedResource[] = [];
  for (const generator of generators) {
    let produced: GeneratedResource[];
    try {
      produced = generator.generate(proxy, mesh);
    } catch (err) {
      throw new GeneratorError(generator.name, proxy.nodeId, err);
    }
    for (const r of produced) {
      const key = `${r.typeUrl} ${r.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(r);
    }
  }
  return out;
}
