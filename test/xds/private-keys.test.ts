import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { SnapshotCache } from '../../src/xds/cache/snapshot-cache.js';
import { ResourceEncoder } from '../../src/xds/cache/snapshot.js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { SotwStream, type DiscoveryResponse, type StreamInfo } from '../../src/xds/server/sotw-stream.js';

/** Identity secrets carry a private key: never over plaintext to a peer that is not on loopback. */
describe('private keys over SDS', () => {
  const cache = new SnapshotCache();
  const encoder = new ResourceEncoder();
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  cache.set(
    'default.web-1',
    encoder.snapshot([
      { typeUrl: TYPE_URLS.secret, name: 'identity_cert:secret:default', resource: { name: 'identity_cert:secret:default', tls_certificate: { certificate_chain: { inline_bytes: b64('cert') }, private_key: { inline_bytes: b64('key') } } } },
      { typeUrl: TYPE_URLS.secret, name: 'mesh_ca:secret:default', resource: { name: 'mesh_ca:secret:default', validation_context: { trusted_ca: { inline_bytes: b64('ca') } } } },
    ]),
  );
  const served = (allowPrivateKeys: boolean) => {
    const sent: DiscoveryResponse[] = [];
    const info: StreamInfo = { id: '1', protocol: 'sotw', identity: { nodeId: 'default.web-1', mesh: 'default', name: 'web-1', proxyless: false }, allowPrivateKeys };
    const stream = new SotwStream(info, cache, (r) => sent.push(r), pino({ level: 'silent' }));
    stream.handle({ type_url: TYPE_URLS.secret, resource_names: ['identity_cert:secret:default', 'mesh_ca:secret:default'], resource_locators: [] });
    stream.close();
    return sent[0]!.resources.length;
  };

  it('sends the identity over TLS or to a loopback peer', () => assert.equal(served(true), 2));
  it('withholds it from a plaintext, non-loopback peer (the trust bundle still goes)', () => assert.equal(served(false), 1));
});
