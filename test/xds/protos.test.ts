import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { decodeResource, encodeResource, envoyRoot, grpcDefinitions, messageType } from '../../src/xds/protos.js';
import { TYPE_URLS } from '../../src/xds/resources.js';

const require = createRequire(import.meta.url);
const descriptor = require('protobufjs/ext/descriptor') as { FileDescriptorSet: protobuf.Type };
// Added to Root by protobufjs/ext/descriptor, which has no typings of its own.
const fromDescriptor = (protobuf.Root as unknown as { fromDescriptor(set: protobuf.Message): protobuf.Root }).fromDescriptor;

/** The descriptor set `buf build` produced (scripts/build-protos.mjs), read without our conversion. */
const BINPB = readFileSync(new URL('../../../proto/gen/envoy.binpb', import.meta.url));

interface FieldDescriptor {
  name: string;
  number: number;
  label?: string;
  type_name?: string;
  options?: Record<string, unknown>;
}
interface MessageDescriptor {
  name: string;
  field?: FieldDescriptor[];
  nested_type?: MessageDescriptor[];
  oneof_decl?: Array<{ name: string; options?: Record<string, unknown> }>;
  options?: Record<string, unknown>;
}
interface FileDescriptor {
  name: string;
  package?: string;
  message_type?: MessageDescriptor[];
}

/** The set decoded with its own descriptor.proto and validate.proto, so PGV options are readable. */
function annotatedSet(): FileDescriptor[] {
  const plain = fromDescriptor(descriptor.FileDescriptorSet.decode(BINPB));
  plain.resolveAll();
  const setType = plain.lookupType('google.protobuf.FileDescriptorSet');
  return (setType.toObject(setType.decode(BINPB), { enums: String, longs: String, defaults: false }) as { file: FileDescriptor[] }).file;
}

function* messages(files: FileDescriptor[]): Generator<[string, MessageDescriptor]> {
  function* walk(message: MessageDescriptor, scope: string): Generator<[string, MessageDescriptor]> {
    const fullName = `${scope}.${message.name}`;
    yield [fullName, message];
    for (const inner of message.nested_type ?? []) yield* walk(inner, fullName);
  }
  for (const file of files) for (const message of file.message_type ?? []) yield* walk(message, file.package ? `.${file.package}` : '');
}

const isMapEntry = (m: MessageDescriptor | undefined) => (m?.options as { map_entry?: boolean } | undefined)?.map_entry === true;

describe('Envoy descriptors (buf build → protobufjs root)', () => {
  const files = annotatedSet();
  const byName = new Map(messages(files));

  it('holds every file the control plane needs, with the pinned validate.proto', () => {
    const names = new Set(files.map((f) => f.name));
    for (const name of ['envoy/service/discovery/v3/ads.proto', 'envoy/service/secret/v3/sds.proto', 'envoy/config/cluster/v3/cluster.proto', 'validate/validate.proto', 'google/protobuf/struct.proto']) {
      assert.ok(names.has(name), `${name} is in the descriptor set`);
    }
    // The rule the shipped validate.proto lacked, and the reason buf refused that file.
    assert.ok(envoyRoot.lookupType('validate.StringRules').fields.ignore_empty, 'validate.StringRules has ignore_empty');
  });

  it('has every message of the set, field for field, with map fields as maps', () => {
    let maps = 0;
    for (const [fullName, message] of byName) {
      if (isMapEntry(message)) continue;
      const type = envoyRoot.lookupType(fullName);
      for (const field of message.field ?? []) {
        const ours = type.fields[field.name];
        assert.ok(ours, `${fullName}.${field.name} is in the root`);
        assert.equal(ours.id, field.number, `${fullName}.${field.name} keeps its number`);
        const entry = field.type_name ? byName.get(field.type_name) : undefined;
        if (isMapEntry(entry)) {
          maps++;
          assert.ok(ours.map, `${fullName}.${field.name} is a map`);
          const value = entry!.field!.find((f) => f.name === 'value')!;
          assert.equal(ours.resolvedType?.fullName ?? ours.type, value.type_name ?? ours.type, `${fullName}.${field.name} keeps its value type`);
        } else {
          assert.equal(ours.repeated, field.label === 'LABEL_REPEATED', `${fullName}.${field.name} keeps its cardinality`);
        }
      }
    }
    assert.ok(maps > 20, `map fields seen: ${maps}`);
    assert.ok(envoyRoot.lookupType('google.protobuf.Struct').fields.fields!.map);
    assert.ok(envoyRoot.lookupType('envoy.config.route.v3.Route').fields.typed_per_filter_config!.map);
  });

  it("keeps every protoc-gen-validate annotation of the set on the root's fields and oneofs", () => {
    let fieldRules = 0;
    let requiredOneofs = 0;
    for (const [fullName, message] of byName) {
      if (isMapEntry(message)) continue;
      const type = envoyRoot.lookupType(fullName);
      for (const field of message.field ?? []) {
        const rules = field.options?.['.validate.rules'];
        if (rules === undefined) continue;
        fieldRules++;
        assert.deepEqual(type.fields[field.name]!.options?.['(validate.rules)'], rules, `${fullName}.${field.name}`);
      }
      for (const oneof of message.oneof_decl ?? []) {
        if (oneof.options?.['.validate.required'] !== true) continue;
        requiredOneofs++;
        assert.equal(type.oneofs[oneof.name]!.options?.['(validate.required)'], true, `${fullName}.${oneof.name}`);
      }
    }
    assert.ok(fieldRules > 300, `field rules seen: ${fieldRules}`);
    assert.ok(requiredOneofs > 20, `required oneofs seen: ${requiredOneofs}`);
  });

  it('gives proto-loader the ADS and SDS services from the same root', () => {
    const ads = grpcDefinitions['envoy.service.discovery.v3.AggregatedDiscoveryService'] as Record<string, { path: string }>;
    assert.equal(ads.StreamAggregatedResources!.path, '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources');
    assert.equal(ads.DeltaAggregatedResources!.path, '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources');
    const sds = grpcDefinitions['envoy.service.secret.v3.SecretDiscoveryService'] as Record<string, { path: string }>;
    assert.ok(sds.StreamSecrets);
  });

  it("encodes a secret's inline bytes (decoded natively) exactly as protobufjs does from their base64", () => {
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const secrets = [
      { name: 'identity_cert:secret:default', tls_certificate: { certificate_chain: { inline_bytes: b64('-----BEGIN CERTIFICATE-----\nleaf\n') }, private_key: { inline_bytes: b64('-----BEGIN PRIVATE KEY-----\nkey\n') } } },
      { name: 'mesh_ca:secret:default', validation_context: { trusted_ca: { inline_bytes: b64('-----BEGIN CERTIFICATE-----\nca\n') }, match_typed_subject_alt_names: [] } },
      { name: 'other', tls_certificate: { certificate_chain: { filename: '/etc/cert.pem' } } },
    ];
    const type = messageType(TYPE_URLS.secret);
    for (const secret of secrets) {
      const before = JSON.stringify(secret);
      const bytes = encodeResource(TYPE_URLS.secret, secret);
      assert.deepEqual(Buffer.from(bytes), Buffer.from(type.encode(type.fromObject(secret)).finish()), secret.name);
      assert.equal(JSON.stringify(secret), before, 'the input is left as it was');
      assert.equal(JSON.stringify(decodeResource(TYPE_URLS.secret, bytes)), JSON.stringify(type.toObject(type.fromObject(secret), { json: true, enums: String, longs: String, bytes: String, defaults: false })));
    }
  });

  it("converts each Any once per object and encodes exactly as protobufjs's own converter", () => {
    // A root of the same descriptors without our Any converter.
    const plain = protobuf.Root.fromJSON(JSON.parse(readFileSync(new URL('../../../proto/gen/envoy.json', import.meta.url), 'utf8')) as protobuf.INamespace);
    plain.resolveAll();
    const tls = {
      name: 'envoy.transport_sockets.tls',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', require_client_certificate: { value: true }, common_tls_context: { alpn_protocols: ['h2'] } },
    };
    const hcm = (route: string) => ({
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: route,
        rds: { route_config_name: route, config_source: { ads: {}, resource_api_version: 'V3' } },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      },
    });
    const listener = (address: string) => ({ name: `inbound:${address}:8080`, address: { socket_address: { address, port_value: 8080 } }, filter_chains: [{ filters: [hcm(`inbound:${address}:8080`)], transport_socket: tls }] });
    const type = plain.lookupType('envoy.config.listener.v3.Listener');
    for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.1']) {
      const value = listener(address);
      assert.deepEqual(Buffer.from(encodeResource(TYPE_URLS.listener, value)), Buffer.from(type.encode(type.fromObject(value)).finish()), address);
    }
    // A URL without a "/" and one naming no type are left to protobufjs, as before.
    const any = plain.lookupType('google.protobuf.Any');
    for (const odd of [{ '@type': 'envoy.extensions.filters.http.router.v3.Router' }, { type_url: 'type.googleapis.com/x.Unknown', value: Buffer.from([8, 1]) }]) {
      assert.deepEqual(Buffer.from(messageType('google.protobuf.Any').encode(messageType('google.protobuf.Any').fromObject(odd)).finish()), Buffer.from(any.encode(any.fromObject(odd)).finish()), JSON.stringify(odd));
    }
  });
});
