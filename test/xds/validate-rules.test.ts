import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeResource } from '../../src/xds/protos.js';
import { TYPE_URLS } from '../../src/xds/resources.js';
import { pgvViolations } from '../../src/xds/validate-rules.js';

/** A cluster with one filled-in part; `extra` is merged in. */
const cluster = (extra: Record<string, unknown>) => encodeResource(TYPE_URLS.cluster, { name: 'c', type: 'STATIC', connect_timeout: { seconds: 1 }, ...extra });
const listener = (extra: Record<string, unknown>) => encodeResource(TYPE_URLS.listener, { name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 9000 } }, ...extra });
const violations = (typeUrl: string, bytes: Uint8Array) => pgvViolations(typeUrl, bytes).join('\n');

describe("validate.rules checker (Envoy's protoc-gen-validate annotations)", () => {
  it('applies a single-value not_in (parsed as a bare value, not a list)', () => {
    // HttpHealthCheck.method: enum.not_in = [CONNECT]
    const withMethod = (method: string) => cluster({ health_checks: [{ timeout: { seconds: 1 }, interval: { seconds: 1 }, unhealthy_threshold: { value: 1 }, healthy_threshold: { value: 1 }, http_health_check: { path: '/', method } }] });
    assert.match(violations(TYPE_URLS.cluster, withMethod('CONNECT')), /http_health_check\.method: must not be/);
    assert.doesNotMatch(violations(TYPE_URLS.cluster, withMethod('GET')), /method/);
  });

  it('applies bool.const', () => {
    // ListenerFilterChainMatchPredicate.any_match: bool.const = true
    const filter = (anyMatch: boolean) => listener({ listener_filters: [{ name: 'tls', filter_disabled: { any_match: anyMatch } }] });
    assert.match(violations(TYPE_URLS.listener, filter(false)), /filter_disabled\.any_match: must be true/);
    assert.doesNotMatch(violations(TYPE_URLS.listener, filter(true)), /any_match/);
  });

  it('applies map.keys', () => {
    // Metadata.filter_metadata: keys string.min_len = 1
    assert.match(violations(TYPE_URLS.cluster, cluster({ metadata: { filter_metadata: { '': { fields: {} } } } })), /filter_metadata\[\]\(key\): length must be >= 1/);
    assert.doesNotMatch(violations(TYPE_URLS.cluster, cluster({ metadata: { filter_metadata: { ok: { fields: {} } } } })), /filter_metadata/);
  });

  it('applies bytes rules', () => {
    // HeaderValue.raw_value: bytes.max_len = 16384
    const header = (raw: Buffer) => encodeResource(TYPE_URLS.route, { name: 'r', request_headers_to_add: [{ header: { key: 'x-a', raw_value: raw } }] });
    assert.match(violations(TYPE_URLS.route, header(Buffer.alloc(16385, 97))), /raw_value: length must be <= 16384 bytes/);
    assert.equal(violations(TYPE_URLS.route, header(Buffer.from('ok'))), '');
  });

  it('honours strict: false on header regexes and is strict by default', () => {
    // RouteConfiguration.request_headers_to_remove: HTTP_HEADER_NAME with strict = false (only NUL,
    // CR and LF refused); HttpHealthCheck.path: HTTP_HEADER_VALUE, strict (control characters refused).
    const remove = (name: string) => encodeResource(TYPE_URLS.route, { name: 'r', request_headers_to_remove: [name] });
    assert.equal(violations(TYPE_URLS.route, remove('x a')), '', 'a space passes the loose rule');
    assert.match(violations(TYPE_URLS.route, remove('x\na')), /request_headers_to_remove\[0\]: not a valid HTTP header name/);
    const probe = (path: string) => cluster({ health_checks: [{ timeout: { seconds: 1 }, interval: { seconds: 1 }, unhealthy_threshold: { value: 1 }, healthy_threshold: { value: 1 }, http_health_check: { path } }] });
    assert.match(violations(TYPE_URLS.cluster, probe('/health\u0001')), /http_health_check\.path: not a valid HTTP header value/);
    assert.equal(violations(TYPE_URLS.cluster, probe('/health\tz')), '', 'a tab is a valid header value character');
  });
});
