import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { encodeResource, grpcDefinitions } from '../../src/xds/protos.js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { encodeDiscoveryResponse, withDirectResponses } from '../../src/xds/server/response-encoder.js';

const ads = grpcDefinitions['envoy.service.discovery.v3.AggregatedDiscoveryService'] as grpc.ServiceDefinition;
const protoLoader = ads.StreamAggregatedResources!.responseSerialize;

const cla = (name: string, port: number) => ({
  type_url: TYPE_URLS.endpoint,
  value: Buffer.from(encodeResource(TYPE_URLS.endpoint, { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: port } } } }] }] })),
});

describe('DiscoveryResponse encoding', () => {
  it('writes the bytes proto-loader writes, with no resource, one, several, a large one and an empty version', () => {
    const big = { type_url: TYPE_URLS.cluster, value: Buffer.alloc(300_000, 7) };
    for (const response of [
      { version_info: '', resources: [], type_url: TYPE_URLS.listener, nonce: '1' },
      { version_info: 'v1', resources: [cla('a', 80)], type_url: TYPE_URLS.endpoint, nonce: '12' },
      { version_info: 'K9x_-', resources: [cla('a', 80), cla('b', 81), cla('c', 65535)], type_url: TYPE_URLS.endpoint, nonce: '123456' },
      { version_info: 'big', resources: [big, big], type_url: TYPE_URLS.cluster, nonce: '7' },
    ]) {
      assert.equal(encodeDiscoveryResponse(response).toString('hex'), Buffer.from(protoLoader(response)).toString('hex'));
      // The same resource objects again: their entries come from the cache, same bytes.
      assert.equal(encodeDiscoveryResponse({ ...response, nonce: '99' }).toString('hex'), Buffer.from(protoLoader({ ...response, nonce: '99' })).toString('hex'));
    }
  });

  it('leaves responses with other fields to proto-loader', () => {
    const service = withDirectResponses(ads, ['StreamAggregatedResources']);
    const response = { version_info: 'v', resources: [], type_url: TYPE_URLS.cluster, nonce: '1', control_plane: { identifier: 'skiff' } };
    assert.equal(Buffer.from(service.StreamAggregatedResources!.responseSerialize(response)).toString('hex'), Buffer.from(protoLoader(response)).toString('hex'));
    assert.throws(() => withDirectResponses(ads, ['NoSuchMethod']), /not a method/);
  });
});
