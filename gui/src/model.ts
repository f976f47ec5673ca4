/** Shapes of the REST API's answers the GUI reads, and small readers of them. */
export const POLICY_TYPES = [
  { type: 'TrafficPermission', plural: 'traffic-permissions', label: 'Traffic permissions', family: 'legacy' },
  { type: 'TrafficRoute', plural: 'traffic-routes', label: 'Traffic routes', family: 'legacy' },
  { type: 'HealthCheck', plural: 'health-checks', label: 'Health checks', family: 'legacy' },
  { type: 'TrafficLog', plural: 'traffic-logs', label: 'Traffic logs', family: 'legacy' },
  { type: 'ProxyTemplate', plural: 'proxytemplates', label: 'Proxy templates', family: 'legacy' },
  // Kuma 2.x targetRef policies: one count and one list for the whole family.
  { type: 'MeshTrafficPermission', plural: 'meshtrafficpermissions', label: 'Mesh traffic permissions', family: 'targetRef' },
  { type: 'MeshHTTPRoute', plural: 'meshhttproutes', label: 'Mesh HTTP routes', family: 'targetRef' },
  { type: 'MeshTCPRoute', plural: 'meshtcproutes', label: 'Mesh TCP routes', family: 'targetRef' },
  { type: 'MeshLoadBalancingStrategy', plural: 'meshloadbalancingstrategies', label: 'Mesh load balancing strategies', family: 'targetRef' },
  { type: 'MeshCircuitBreaker', plural: 'meshcircuitbreakers', label: 'Mesh circuit breakers', family: 'targetRef' },
  { type: 'MeshHealthCheck', plural: 'meshhealthchecks', label: 'Mesh health checks', family: 'targetRef' },
  { type: 'MeshTimeout', plural: 'meshtimeouts', label: 'Mesh timeouts', family: 'targetRef' },
  { type: 'MeshRetry', plural: 'meshretries', label: 'Mesh retries', family: 'targetRef' },
  { type: 'MeshFaultInjection', plural: 'meshfaultinjections', label: 'Mesh fault injections', family: 'targetRef' },
  { type: 'MeshRateLimit', plural: 'meshratelimits', label: 'Mesh rate limits', family: 'targetRef' },
  { type: 'MeshAccessLog', plural: 'meshaccesslogs', label: 'Mesh access logs', family: 'targetRef' },
  { type: 'MeshTrace', plural: 'meshtraces', label: 'Mesh traces', family: 'targetRef' },
  { type: 'MeshMetric', plural: 'meshmetrics', label: 'Mesh metrics', family: 'targetRef' },
  { type: 'MeshProxyPatch', plural: 'meshproxypatches', label: 'Mesh proxy patches', family: 'targetRef' },
] as const;
export const LEGACY_POLICY_TYPES = POLICY_TYPES.filter((p) => p.family === 'legacy');
export const TARGET_REF_POLICY_TYPES = POLICY_TYPES.filter((p) => p.family === 'targetRef');

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
