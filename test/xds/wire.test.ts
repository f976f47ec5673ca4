import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { grpcDefinitions, messageType } from '../../src/xds/protos.js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { encodedAny, serializeDeltaDiscoveryResponse, serializeDiscoveryResponse, withSplicingSerializers } from '../../src/xds/wire.js';

const ads = grpcDefinitions['envoy.service.discovery.v3.AggregatedDiscoveryService'] as ServiceDefinition;
const genericSotw = ads.StreamAggregatedResources!.responseSerialize;
const genericDelta = ads.DeltaAggregatedResources!.responseSerialize;

const cla = (name: string) => messageType(TYPE_URLS.endpoint).encode({ cluster_name: name }).finish();

test('a DiscoveryResponse is serialised to the bytes protobufjs writes, whatever made its Anys', () => {
  const big = randomBytes(70_000); // lengths of three varint bytes
  const cases = [
    { version_info: 'v1', resources: [encodedAny(TYPE_URLS.endpoint, cla('a')), encodedAny(TYPE_URLS.endpoint, cla('b'))], type_url: TYPE_URLS.endpoint, nonce: '7' },
    { version_info: '', resources: [], type_url: TYPE_URLS.cluster, nonce: '' },
    { version_info: 'vé', resources: [{ type_url: TYPE_URLS.secret, value: big }, encodedAny(TYPE_URLS.secret, big)], type_url: TYPE_URLS.secret, nonce: '123456' },
  ];
  for (const response of cases) {
    const ours = serializeDiscoveryResponse(response);
    assert.ok(ours, 'handled');
    assert.deepEqual(ours, genericSotw(response));
  }
});

test('a DeltaDiscoveryResponse is serialised to the bytes protobufjs writes', () => {
  const any = encodedAny(TYPE_URLS.endpoint, cla('svc_80'));
  const cases = [
    { system_version_info: 'sv', resources: [{ name: 'svc_80', version: 'h1', resource: any }, { name: 'ü', version: '', resource: { type_url: TYPE_URLS.endpoint, value: cla('ü') } }], type_url: TYPE_URLS.endpoint, removed_resources: ['gone', 'also-gone'], nonce: '3' },
    { system_version_info: '', resources: [], type_url: TYPE_URLS.listener, removed_resources: [], nonce: '1' },
  ];
  for (const response of cases) {
    const ours = serializeDeltaDiscoveryResponse(response);
    assert.ok(ours, 'handled');
    assert.deepEqual(ours, genericDelta(response));
  }
});

test('an Any made by encodedAny is a view of its own memory, equal to its value', () => {
  const value = cla('x');
  const any = encodedAny(TYPE_URLS.endpoint, value);
  assert.deepEqual(Buffer.from(any.value), Buffer.from(value));
  assert.equal(any.value.buffer.byteLength < 8192, true, 'not a slice of a pool slab');
});

test('a message with fields the splicer does not write goes to the generic serialiser', () => {
  const spliced = withSplicingSerializers(ads, { sotw: ['StreamAggregatedResources'], delta: ['DeltaAggregatedResources'] });
  const canary = { version_info: 'v', resources: [], type_url: TYPE_URLS.cluster, nonce: '1', canary: true };
  assert.equal(serializeDiscoveryResponse(canary), undefined);
  const bytes = spliced.StreamAggregatedResources!.responseSerialize(canary);
  assert.deepEqual(bytes, genericSotw(canary));
  assert.equal((messageType('envoy.service.discovery.v3.DiscoveryResponse').decode(bytes) as unknown as { canary: boolean }).canary, true);
  const aliased = { system_version_info: '', resources: [{ name: 'a', version: '1', resource: encodedAny(TYPE_URLS.endpoint, cla('a')), aliases: ['b'] }], type_url: TYPE_URLS.endpoint, removed_resources: [], nonce: '2' };
  assert.equal(serializeDeltaDiscoveryResponse(aliased), undefined);
  assert.deepEqual(spliced.DeltaAggregatedResources!.responseSerialize(aliased), genericDelta(aliased));
  assert.throws(() => withSplicingSerializers(ads, { sotw: ['NoSuchMethod'], delta: [] }), /no method NoSuchMethod/);
});
