import type { MeshSnapshot, ProxyTemplateRule } from '../../core/mesh-snapshot.js';
import { selectDataplanePolicy } from '../../core/policy-matching.js';
import { parseRawResource } from '../proto-json.js';
import { TYPE_URLS } from '../resources.js';
import { inboundGenerator } from './inbound.js';
import { outboundGenerator } from './outbound.js';
import { proxylessGenerator } from './proxyless.js';
import { proxylessServerGenerator } from './proxyless-server.js';
import { secretsGenerator } from './secrets.js';
import type { GeneratedResource, Generator, ProxyContext } from './types.js';
import { applyPolicies } from '../../policies/index.js';

/** Every generator, in the order their output is assembled. One concern each, each golden-tested. */
export const GENERATORS: readonly Generator[] = [secretsGenerator, inboundGenerator, outboundGenerator, proxylessGenerator, proxylessServerGenerator];

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
  // Names seen per type URL (a few shared constants): no key text built per resource.
  const seen = new Map<string, Set<string>>();
  const out: GeneratedResource[] = [];
  for (const generator of generators) {
    let produced: GeneratedResource[];
    try {
      produced = generator.generate(proxy, mesh);
    } catch (err) {
      throw new GeneratorError(generator.name, proxy.nodeId, err);
    }
    for (const r of produced) {
      let names = seen.get(r.typeUrl);
      if (!names) seen.set(r.typeUrl, (names = new Set()));
      if (names.has(r.name)) continue;
      names.add(r.name);
      out.push(r);
    }
  }
  let withPolicies: GeneratedResource[];
  try {
    withPolicies = applyPolicies(out, proxy, mesh);
  } catch (err) {
    throw new GeneratorError('policies', proxy.nodeId, err);
  }
  return applyProxyTemplate(proxy, mesh, withPolicies);
}

const rawPerTemplate = new WeakMap<ProxyTemplateRule, GeneratedResource[]>();

/**
 * ProxyTemplate, applied last: the most specific template selecting the dataplane keeps the
 * generated config only if it imports `default-proxy` (SDS secrets always stay), then adds its raw
 * resources, replacing generated ones of the same type and name.
 */
function applyProxyTemplate(proxy: ProxyContext, mesh: MeshSnapshot, generated: GeneratedResource[]): GeneratedResource[] {
  if (proxy.proxyless) return generated;
  const template = selectDataplanePolicy(mesh.proxyTemplates, proxy.dataplane.dataplane.inbound.map((i) => i.tags));
  if (!template) return generated;
  let raw = rawPerTemplate.get(template);
  if (!raw) {
    raw = template.resources.map((r) => {
      const parsed = parseRawResource(r.resource);
      if (!parsed.ok) throw new GeneratorError('proxy-template', proxy.nodeId, new Error(`ProxyTemplate "${template.name}" resource "${r.name}": ${parsed.error}`));
      return { typeUrl: parsed.typeUrl as GeneratedResource['typeUrl'], name: parsed.name, resource: parsed.value };
    });
    rawPerTemplate.set(template, raw);
  }
  const keep = template.imports.includes('default-proxy') ? generated : generated.filter((r) => r.typeUrl === TYPE_URLS.secret);
  const replaced = new Set(raw.map((r) => `${r.typeUrl} ${r.name}`));
  return [...keep.filter((r) => !replaced.has(`${r.typeUrl} ${r.name}`)), ...raw];
}
