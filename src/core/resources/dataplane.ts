import { isIP } from 'node:net';
import type { Tags } from '../tags.js';
import { serviceOf } from '../tags.js';
import {
  at,
  Causes,
  checkKnownFields,
  checkLabels,
  checkPort,
  checkString,
  checkTags,
  hasServiceTag,
  isObject,
  listAt,
  objectAt,
  type Obj,
} from '../validate.js';

/** One inbound in the normalised shape, whichever form the user wrote. */
export interface Inbound {
  /** Address the dataplane listens on for this inbound. */
  address: string;
  /** Port the dataplane listens on. */
  port: number;
  /** Port of the local service the traffic is forwarded to. */
  servicePort: number;
  /** Address of the local service (127.0.0.1 unless given). */
  serviceAddress: string;
  /** The address other dataplanes reach this inbound at: `networking.advertisedAddress` when set (NAT, containers), else `address`. */
  advertisedAddress: string;
  /** False when Kuma would not send traffic here: `health.ready: false`, or `state` NotReady or Ignored. */
  ready: boolean;
  tags: Tags;
  service: string;
}

export interface Outbound {
  address: string;
  port: number;
  service: string;
  tags: Tags;
}

/** A Dataplane normalised from either the 0.3 `interface` form or the current `address` + `port` form. */
export interface NormalizedDataplane {
  address: string;
  inbound: Inbound[];
  outbound: Outbound[];
  /** The Dataplane's own `labels` (targetRef kind Dataplane selects by them). */
  labels: Record<string, string>;
}

// Kuma 0.3: "{address}:{dataplane-port}:{service-port}", the address IPv4 or bracketed IPv6.
const INBOUND_INTERFACE = /^(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):(\d+):(\d+)$/;
// Kuma 0.3 outbound: "[address]:port", e.g. ":33033" or "127.0.0.1:33033".
const OUTBOUND_INTERFACE = /^(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\])?:(\d+)$/;

const unbracket = (address: string) => address.replace(/^\[(.*)\]$/, '$1');

function parsePort(text: string): number | undefined {
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

function parseInboundInterface(text: string): { address: string; port: number; servicePort: number } | undefined {
  const m = INBOUND_INTERFACE.exec(text);
  if (!m) return undefined;
  const address = unbracket(m[1]!);
  const port = parsePort(m[2]!);
  const servicePort = parsePort(m[3]!);
  if (!isIP(address) || port === undefined || servicePort === undefined) return undefined;
  return { address, port, servicePort };
}

function parseOutboundInterface(text: string): { address: string; port: number } | undefined {
  const m = OUTBOUND_INTERFACE.exec(text);
  if (!m) return undefined;
  const address = m[1] ? unbracket(m[1]) : '127.0.0.1';
  const port = parsePort(m[2]!);
  if (!isIP(address) || port === undefined) return undefined;
  return { address, port };
}

const DATAPLANE_FIELDS = ['networking', 'metrics', 'probes', 'labels'];
const NETWORKING_FIELDS = ['address', 'advertisedAddress', 'inbound', 'outbound', 'gateway', 'transparentProxying', 'admin'];
const INBOUND_FIELDS = ['interface', 'address', 'port', 'servicePort', 'serviceAddress', 'tags', 'health', 'serviceProbe', 'state', 'name'];
const OUTBOUND_FIELDS = ['interface', 'address', 'port', 'service', 'tags', 'backendRef'];

function validateInbound(item: unknown, path: string, hasAddress: boolean, causes: Causes): void {
  if (!isObject(item)) {
    causes.add(path, 'must be an object');
    return;
  }
  checkKnownFields(item, INBOUND_FIELDS, path, causes);
  if (item.interface !== undefined) {
    if (item.port !== undefined || item.servicePort !== undefined) {
      causes.add(path, 'use either interface or port/servicePort, not both');
    }
    if (typeof item.interface !== 'string' || !parseInboundInterface(item.interface)) {
      causes.add(at(path, 'interface'), 'invalid format: expected "{address}:{dataplane-port}:{service-port}", e.g. "127.0.0.1:9000:6379"');
    }
  } else {
    if (!hasAddress) causes.add('networking.address', 'address must be defined when inbounds use port instead of interface');
    checkPort(item.port, at(path, 'port'), causes);
    if (item.servicePort !== undefined) checkPort(item.servicePort, at(path, 'servicePort'), causes);
    for (const key of ['address', 'serviceAddress'] as const) {
      if (item[key] !== undefined && (typeof item[key] !== 'string' || !isIP(item[key] as string))) {
        causes.add(at(path, key), 'must be a valid IP address');
      }
    }
  }
  if (item.health !== undefined) {
    if (!isObject(item.health)) causes.add(at(path, 'health'), 'must be an object, e.g. {ready: true}');
    else {
      checkKnownFields(item.health, ['ready'], at(path, 'health'), causes);
      if (item.health.ready !== undefined && typeof item.health.ready !== 'boolean') causes.add(at(at(path, 'health'), 'ready'), 'must be true or false');
    }
  }
  if (item.state !== undefined && !['Ready', 'NotReady', 'Ignored'].includes(item.state as string)) causes.add(at(path, 'state'), 'must be one of Ready, NotReady, Ignored');
  const tagsPath = at(path, 'tags');
  if (item.tags === undefined) {
    causes.add(tagsPath, 'tags must be defined and contain the "kuma.io/service" (or "service") tag');
  } else if (checkTags(item.tags, tagsPath, causes) && !hasServiceTag(item.tags)) {
    causes.add(`${tagsPath}["kuma.io/service"]`, 'tag has to exist (the "service" spelling is accepted too)');
  }
}

function validateOutbound(item: unknown, path: string, causes: Causes): void {
  if (!isObject(item)) {
    causes.add(path, 'must be an object');
    return;
  }
  checkKnownFields(item, OUTBOUND_FIELDS, path, causes);
  if (item.interface !== undefined) {
    if (typeof item.interface !== 'string' || !parseOutboundInterface(item.interface)) {
      causes.add(at(path, 'interface'), 'invalid format: expected "[address]:port", e.g. ":10000" or "127.0.0.1:10000"');
    }
  } else {
    checkPort(item.port, at(path, 'port'), causes);
    if (item.address !== undefined && (typeof item.address !== 'string' || !isIP(item.address))) {
      causes.add(at(path, 'address'), 'must be a valid IP address');
    }
  }
  const tags = item.tags;
  if (tags !== undefined) checkTags(tags, at(path, 'tags'), causes);
  const named = typeof item.service === 'string' && item.service !== '';
  if (item.service !== undefined) checkString(item.service, at(path, 'service'), causes);
  if (!named && !(isObject(tags) && hasServiceTag(tags as Tags))) {
    causes.add(at(path, 'service'), 'a service must be given, as service or as the "kuma.io/service" tag');
  }
}

export function validateDataplane(spec: Obj, causes: Causes): void {
  checkKnownFields(spec, DATAPLANE_FIELDS, '', causes);
  checkLabels(spec, causes);
  const networking = objectAt(spec, 'networking', '', causes, true);
  if (!networking) return;
  checkKnownFields(networking, NETWORKING_FIELDS, 'networking', causes);
  const hasAddress = networking.address !== undefined;
  if (hasAddress && (typeof networking.address !== 'string' || !isIP(networking.address))) {
    causes.add('networking.address', 'must be a valid IP address');
  }
  if (networking.advertisedAddress !== undefined && (typeof networking.advertisedAddress !== 'string' || !isIP(networking.advertisedAddress))) {
    causes.add('networking.advertisedAddress', 'must be a valid IP address');
  }
  const inbound = listAt(networking, 'inbound', 'networking', causes, false) ?? [];
  const outbound = listAt(networking, 'outbound', 'networking', causes, false) ?? [];
  if (inbound.length === 0 && networking.gateway === undefined) {
    causes.add('networking.inbound', 'has to contain at least one inbound interface or gateway');
  }
  inbound.forEach((item, i) => validateInbound(item, `networking.inbound[${i}]`, hasAddress, causes));
  outbound.forEach((item, i) => validateOutbound(item, `networking.outbound[${i}]`, causes));
}

/**
 * The normalised shape of a Dataplane spec that passed `validateDataplane`. Pure and cheap; callers
 * that need it often (xDS) cache it by resource version.
 */
export function normalizeDataplane(spec: Obj): NormalizedDataplane {
  const networking = (spec.networking ?? {}) as Obj;
  const address = typeof networking.address === 'string' ? networking.address : '';
  const advertised = typeof networking.advertisedAddress === 'string' && networking.advertisedAddress !== '' ? networking.advertisedAddress : undefined;
  const inbound = ((networking.inbound ?? []) as Obj[]).map((item): Inbound => {
    const tags = { ...(item.tags as Tags) };
    const service = serviceOf(tags) ?? '';
    const health = isObject(item.health) ? item.health : undefined;
    const ready = health?.ready !== false && item.state !== 'NotReady' && item.state !== 'Ignored';
    if (typeof item.interface === 'string') {
      const parsed = parseInboundInterface(item.interface)!;
      return { ...parsed, serviceAddress: '127.0.0.1', advertisedAddress: advertised ?? parsed.address, ready, tags, service };
    }
    const port = item.port as number;
    const inboundAddress = typeof item.address === 'string' ? item.address : address;
    return {
      address: inboundAddress,
      port,
      servicePort: typeof item.servicePort === 'number' ? item.servicePort : port,
      serviceAddress: typeof item.serviceAddress === 'string' ? item.serviceAddress : '127.0.0.1',
      advertisedAddress: advertised ?? inboundAddress,
      ready,
      tags,
      service,
    };
  });
  const outbound = ((networking.outbound ?? []) as Obj[]).map((item): Outbound => {
    const tags = { ...((item.tags as Tags | undefined) ?? {}) };
    const service = typeof item.service === 'string' && item.service !== '' ? item.service : serviceOf(tags) ?? '';
    if (typeof item.interface === 'string') return { ...parseOutboundInterface(item.interface)!, service, tags };
    return { address: typeof item.address === 'string' ? item.address : '127.0.0.1', port: item.port as number, service, tags };
  });
  const labels = isObject(spec.labels) ? (spec.labels as Record<string, string>) : {};
  return { address: address || inbound[0]?.address || '', inbound, outbound, labels };
}
