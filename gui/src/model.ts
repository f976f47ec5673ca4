/** Shapes of the REST API's answers the GUI reads, and small readers of them. */
export const POLICY_TYPES = [
  { type: 'TrafficPermission', plural: 'traffic-permissions', label: 'Traffic permissions' },
  { type: 'TrafficRoute', plural: 'traffic-routes', label: 'Traffic routes' },
  { type: 'HealthCheck', plural: 'health-checks', label: 'Health checks' },
  { type: 'TrafficLog', plural: 'traffic-logs', label: 'Traffic logs' },
  { type: 'ProxyTemplate', plural: 'proxytemplates', label: 'Proxy templates' },
  { type: 'MeshTimeout', plural: 'meshtimeouts', label: 'Mesh timeouts' },
] as const;

export interface Subscription {
  id: string;
  connectTime: string;
  disconnectTime?: string;
  status?: { lastUpdateTime?: string; total?: { responsesSent?: string; responsesAcknowledged?: string; responsesRejected?: string } };
}

export interface DataplaneOverview {
  mesh: string;
  name: string;
  dataplane: { networking?: Networking };
  dataplaneInsight: { subscriptions: Subscription[]; mTLS?: { certificateExpirationTime?: string; certificateRegenerations?: number } };
  online: boolean;
}

export interface Networking {
  address?: string;
  inbound?: Array<{ interface?: string; port?: number; servicePort?: number; address?: string; tags?: Record<string, string> }>;
  outbound?: Array<{ interface?: string; port?: number; address?: string; service?: string; tags?: Record<string, string> }>;
}

/** Every tag of a dataplane's inbounds, `key=value`, deduplicated. */
export function tagsOf(networking: Networking | undefined): string[] {
  const out = new Set<string>();
  for (const inbound of networking?.inbound ?? []) for (const [k, v] of Object.entries(inbound.tags ?? {})) out.add(`${k}=${v}`);
  return [...out];
}

export const serviceOf = (tags: Record<string, string> | undefined): string => tags?.['kuma.io/service'] ?? tags?.service ?? '';

export function lastSubscription(o: DataplaneOverview): Subscription | undefined {
  const subs = o.dataplaneInsight?.subscriptions ?? [];
  return subs[subs.length - 1];
}
