import { parse as parseYaml } from 'yaml';
import { unprovableSourceTags } from '../tags.js';
import {
  at,
  Causes,
  checkDuration,
  checkKnownFields,
  checkLabels,
  checkPositiveInt,
  checkSelectors,
  checkString,
  checkTags,
  hasServiceTag,
  isObject,
  listAt,
  objectAt,
  type Obj,
} from '../validate.js';

/** Source/destination policies share this frame. */
function validateConnectionPolicy(spec: Obj, extra: readonly string[], causes: Causes): void {
  checkKnownFields(spec, ['sources', 'destinations', 'labels', ...extra], '', causes);
  checkLabels(spec, causes);
  checkSelectors(spec, 'sources', causes);
  checkSelectors(spec, 'destinations', causes);
}

export function validateTrafficPermission(spec: Obj, causes: Causes): void {
  validateConnectionPolicy(spec, [], causes);
  if (!Array.isArray(spec.sources)) return;
  spec.sources.forEach((source, i) => {
    const match = isObject(source) && isObject(source.match) ? (source.match as Record<string, string>) : undefined;
    if (!match || Object.keys(match).length === 0) return; // reported by checkSelectors
    const path = `sources[${i}].match`;
    for (const tag of unprovableSourceTags(match)) {
      causes.add(
        `${path}["${tag}"]`,
        'cannot be enforced: a dataplane certificate carries one SPIFFE ID (spiffe://{mesh}/{service}), so a TrafficPermission source can only select kuma.io/service; this permission would admit more callers than it names',
      );
    }
    if (!hasServiceTag(match)) causes.add(`${path}["kuma.io/service"]`, 'tag has to exist (use "*" for every service of the mesh)');
  });
}

export function validateTrafficLog(spec: Obj, causes: Causes): void {
  validateConnectionPolicy(spec, ['conf'], causes);
  const conf = objectAt(spec, 'conf', '', causes, false);
  if (conf) {
    checkKnownFields(conf, ['backend'], 'conf', causes);
    if (conf.backend !== undefined) checkString(conf.backend, 'conf.backend', causes, false);
  }
}

function validateSplit(list: unknown[], path: string, causes: Causes): void {
  if (list.length === 0) return causes.add(path, 'must have at least one element');
  let total = 0;
  list.forEach((entry, i) => {
    const p = at(path, i);
    if (!isObject(entry)) return causes.add(p, 'must be an object with weight and destination');
    checkKnownFields(entry, ['weight', 'destination'], p, causes);
    const weight = entry.weight;
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0) {
      causes.add(at(p, 'weight'), 'must be an integer greater than or equal to 0');
    } else total += weight;
    const destination = objectAt(entry, 'destination', p, causes, true);
    if (destination && checkTags(destination, at(p, 'destination'), causes) && !hasServiceTag(destination)) {
      causes.add(`${at(p, 'destination')}["kuma.io/service"]`, 'tag has to exist (the "service" spelling is accepted too)');
    }
  });
  if (total === 0 && !causes.list.some((c) => c.field.startsWith(path))) causes.add(path, 'the sum of weights must be greater than 0');
}

/** `conf` is a list of `{weight, destination}` in Kuma 0.3, an object with `split` or `destination` later. */
export function validateTrafficRoute(spec: Obj, causes: Causes): void {
  validateConnectionPolicy(spec, ['conf'], causes);
  const conf = spec.conf;
  if (conf === undefined || conf === null) return causes.add('conf', 'must be defined');
  if (Array.isArray(conf)) return validateSplit(conf, 'conf', causes);
  if (!isObject(conf)) return causes.add('conf', 'must be a list of weighted destinations or an object');
  checkKnownFields(conf, ['split', 'destination', 'loadBalancer', 'http'], 'conf', causes);
  if (conf.split !== undefined && conf.destination !== undefined) causes.add('conf', 'use either split or destination, not both');
  else if (conf.split !== undefined) {
    const split = listAt(conf, 'split', 'conf', causes, true);
    if (split) validateSplit(split, 'conf.split', causes);
  } else if (conf.destination !== undefined) {
    const destination = objectAt(conf, 'destination', 'conf', causes, true);
    if (destination && checkTags(destination, 'conf.destination', causes) && !hasServiceTag(destination)) {
      causes.add('conf.destination["kuma.io/service"]', 'tag has to exist');
    }
  } else causes.add('conf', 'requires either split or destination');
}

function validateActiveChecks(checks: Obj, path: string, causes: Causes): void {
  checkDuration(checks.interval, at(path, 'interval'), causes, true);
  checkDuration(checks.timeout, at(path, 'timeout'), causes, true);
  checkPositiveInt(checks.unhealthyThreshold, at(path, 'unhealthyThreshold'), causes, true);
  checkPositiveInt(checks.healthyThreshold, at(path, 'healthyThreshold'), causes, true);
}

/** `conf.activeChecks`/`passiveChecks` in Kuma 0.3; flat `interval`, `timeout`, thresholds later. */
export function validateHealthCheck(spec: Obj, causes: Causes): void {
  validateConnectionPolicy(spec, ['conf'], causes);
  const conf = objectAt(spec, 'conf', '', causes, true);
  if (!conf) return;
  if (conf.activeChecks !== undefined || conf.passiveChecks !== undefined) {
    checkKnownFields(conf, ['activeChecks', 'passiveChecks'], 'conf', causes);
    const active = objectAt(conf, 'activeChecks', 'conf', causes, false);
    if (active) {
      checkKnownFields(active, ['interval', 'timeout', 'unhealthyThreshold', 'healthyThreshold'], 'conf.activeChecks', causes);
      validateActiveChecks(active, 'conf.activeChecks', causes);
    }
    const passive = objectAt(conf, 'passiveChecks', 'conf', causes, false);
    if (passive) {
      checkPositiveInt(passive.unhealthyThreshold, 'conf.passiveChecks.unhealthyThreshold', causes, true);
      checkDuration(passive.penaltyInterval, 'conf.passiveChecks.penaltyInterval', causes, true);
    }
  } else {
    validateActiveChecks(conf, 'conf', causes);
  }
}

const PROXY_PROFILES = ['default-proxy'];

/** Raw resources must parse (YAML or JSON) to an object naming its Envoy type in `@type`. */
export function validateProxyTemplate(spec: Obj, causes: Causes): void {
  checkKnownFields(spec, ['selectors', 'conf', 'labels'], '', causes);
  checkLabels(spec, causes);
  checkSelectors(spec, 'selectors', causes);
  const conf = objectAt(spec, 'conf', '', causes, true);
  if (!conf) return;
  checkKnownFields(conf, ['imports', 'resources', 'modifications'], 'conf', causes);
  (listAt(conf, 'imports', 'conf', causes, false) ?? []).forEach((profile, i) => {
    if (typeof profile !== 'string' || !PROXY_PROFILES.includes(profile)) {
      causes.add(`conf.imports[${i}]`, `profile not found. Available profiles: ${PROXY_PROFILES.join(', ')}`);
    }
  });
  (listAt(conf, 'resources', 'conf', causes, false) ?? []).forEach((item, i) => {
    const path = `conf.resources[${i}]`;
    if (!isObject(item)) return causes.add(path, 'must be an object');
    checkKnownFields(item, ['name', 'version', 'resource'], path, causes);
    checkString(item.name, at(path, 'name'), causes);
    checkString(item.version, at(path, 'version'), causes, false);
    if (!checkString(item.resource, at(path, 'resource'), causes)) return;
    let parsed: unknown;
    try {
      parsed = parseYaml(item.resource);
    } catch (err) {
      return causes.add(at(path, 'resource'), `native Envoy resource is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
    }
    if (!isObject(parsed) || typeof parsed['@type'] !== 'string' || !parsed['@type'].startsWith('type.googleapis.com/')) {
      causes.add(at(path, 'resource'), 'native Envoy resource must be an object with an "@type" such as "type.googleapis.com/envoy.config.cluster.v3.Cluster"');
    }
  });
  listAt(conf, 'modifications', 'conf', causes, false);
}
