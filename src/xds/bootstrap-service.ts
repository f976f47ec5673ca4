import { stringify as toYaml, parse as parseYaml } from 'yaml';
import { TokenMismatchError } from '../auth/dataplane-tokens.js';
import type { DataplaneCredentialCheck } from './authn.js';
import { InvalidTokenError } from '../auth/jwt.js';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../core/duration.js';
import { ForbiddenError, InvalidError, isAlreadyExists, NotFoundError, UnauthenticatedError } from '../core/errors.js';
import type { StoredResource } from '../core/model.js';
import { checkName } from '../core/names.js';
import { descriptorOf, validateResource } from '../core/registry.js';
import { normalizeDataplane } from '../core/resources/dataplane.js';
import { Causes, isObject } from '../core/validate.js';
import type { ResourceStore } from '../store/store.js';
import { envoyBootstrap } from './generators/bootstrap.js';

export interface BootstrapResult {
  /** The Envoy bootstrap as an object (proto3 JSON field names). */
  bootstrap: Record<string, unknown>;
  yaml: string;
  /** kuma-dp's `kumaSidecarConfiguration`. */
  sidecar: Record<string, unknown>;
}

/**
 * `POST /bootstrap` (kuma-dp's request: `mesh`, `name`, `dataplaneToken`, `adminPort`, `version`,
 * optional inline `dataplaneResource`): authenticates the dataplane exactly as the xDS server will
 * (so a bootstrap is never handed to a proxy that would then be refused), registers an inline
 * Dataplane, and returns the Envoy bootstrap. Errors: InvalidError (400), UnauthenticatedError
 * (401), ForbiddenError (403), NotFoundError (404).
 */
export class BootstrapService {
  constructor(
    private readonly config: Config,
    private readonly store: ResourceStore,
    /** How the dataplane's credential is checked (the xDS server's own check); undefined for `none`. */
    private readonly credentialCheck: DataplaneCredentialCheck | undefined,
    /** The port the xDS server is bound to (used when bootstrapServer.params.xdsPort is left at its default). */
    private readonly boundXdsPort: number,
    private readonly caPem: string | undefined,
  ) {}

  private instanceAddresses: (() => Promise<Array<{ host: string; port: number }>>) | undefined;

  /**
   * The xDS addresses of the live control planes on this store: a bootstrap lists all of them
   * (this one first) unless `bootstrapServer.params.xdsHost` names one address (a load balancer).
   */
  useInstanceAddresses(list: () => Promise<Array<{ host: string; port: number }>>): void {
    this.instanceAddresses = list;
  }

  async bootstrap(body: unknown, callerAddress?: string): Promise<BootstrapResult> {
    const causes = new Causes();
    if (!isObject(body)) throw new InvalidError('body must be a JSON object', [{ field: '', message: 'must be an object' }]);
    for (const key of ['mesh', 'name'] as const) {
      const problem = checkName(body[key]);
      if (problem) causes.add(key, problem);
    }
    if (body.proxyType !== undefined && body.proxyType !== 'dataplane') causes.add('proxyType', 'only "dataplane" is served');
    const adminPort = body.adminPort ?? this.config.bootstrapServer.params.adminPort;
    if (typeof adminPort !== 'number' || !Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535) causes.add('adminPort', 'must be a port in [0, 65535]');
    if (!causes.empty) throw new InvalidError('bootstrap request is not valid', causes.list);
    const mesh = body.mesh as string;
    const name = body.name as string;

    const inline = body.dataplaneResource !== undefined && body.dataplaneResource !== '' ? this.parseInline(body.dataplaneResource, mesh, name) : undefined;
    const dataplane = inline ?? (await this.store.get({ type: 'Dataplane', mesh, name }));
    if (!dataplane) throw new NotFoundError(`Dataplane "${name}" not found in mesh "${mesh}": create it first or send it as dataplaneResource`);

    const check = this.credentialCheck;
    const token = typeof body.dataplaneToken === 'string' ? body.dataplaneToken.trim() : '';
    if (check) {
      if (!token) throw new UnauthenticatedError('a dataplane token is required (dataplaneToken)');
      try {
        await check.verify(token, mesh, dataplane, callerAddress);
      } catch (err) {
        if (err instanceof InvalidTokenError) throw new UnauthenticatedError(`invalid ${check.describe(token)}: ${err.reason}`);
        if (err instanceof TokenMismatchError) throw new ForbiddenError(`${check.describe(token)} does not admit ${mesh}.${name}: ${err.message}`);
        throw err;
      }
    }
    if (inline) await this.upsert(inline);

    const params = this.config.bootstrapServer.params;
    const others = params.xdsHost || !this.instanceAddresses ? [] : await this.instanceAddresses().catch(() => []);
    const normalized = normalizeDataplane(dataplane.spec);
    const dynamic = isObject(body.dynamicMetadata) ? Object.fromEntries(Object.entries(body.dynamicMetadata).filter(([, v]) => typeof v === 'string')) : {};
    const bootstrap = envoyBootstrap({
      nodeId: `${mesh}.${name}`,
      service: normalized.inbound[0]?.service ?? name,
      adminAddress: params.adminAddress,
      adminPort: adminPort as number,
      adminAccessLogPath: params.adminAccessLogPath,
      xdsHost: params.xdsHost || this.config.general.advertisedHostname,
      // The default 5678 means "where the xDS server listens", which differs when it was bound elsewhere.
      xdsPort: params.xdsPort === 5678 ? this.boundXdsPort : params.xdsPort,
      moreXdsAddresses: others,
      xdsConnectTimeoutMs: parseDuration(params.xdsConnectTimeout) ?? 1000,
      token: check ? token : undefined,
      caPem: this.config.xdsServer.tlsEnabled ? this.caPem : undefined,
      metadata: { ...dynamic, 'dataplane.proxyType': 'dataplane', 'dataplane.admin.port': String(adminPort) },
    });
    return {
      bootstrap,
      yaml: toYaml(bootstrap),
      sidecar: { networking: { isUsingTransparentProxy: false, address: normalized.address } },
    };
  }

  private parseInline(raw: unknown, mesh: string, name: string): StoredResource {
    let value: unknown = raw;
    if (typeof raw === 'string') {
      try {
        value = parseYaml(raw);
      } catch (err) {
        throw new InvalidError('dataplaneResource is not valid JSON or YAML', [{ field: 'dataplaneResource', message: (err as Error).message.split('\n')[0]! }]);
      }
    }
    const result = validateResource(descriptorOf('Dataplane'), { mesh, name }, value);
    if (!result.ok) throw new InvalidError('dataplaneResource is not a valid Dataplane', result.causes.map((c) => ({ field: `dataplaneResource.${c.field}`.replace(/\.$/, ''), message: c.message })));
    const now = new Date().toISOString();
    return { ...result.resource, version: 0, creationTime: now, modificationTime: now };
  }

  private async upsert(resource: StoredResource): Promise<void> {
    const key = { type: 'Dataplane' as const, mesh: resource.mesh, name: resource.name };
    const existing = await this.store.get(key);
    if (existing) await this.store.update({ ...key, spec: resource.spec }, existing.version);
    else {
      try {
        await this.store.create({ ...key, spec: resource.spec });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
    }
  }
}
