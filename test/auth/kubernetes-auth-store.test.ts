import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataplaneTokens } from '../../src/auth/dataplane-tokens.js';
import { KubernetesAuth } from '../../src/auth/kubernetes/kubernetes-auth.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { rsaIssuer } from '../helpers/kubernetes.js';

describe('Kubernetes auth storage', () => {
  it('keeps the configuration and roles in the store, across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-k8s-auth-'));
    const path = join(dir, 'skiff.db');
    const issuer = await rsaIssuer();
    try {
      const first = new SqliteStore(path);
      const auth = new KubernetesAuth(first, new DataplaneTokens(first), { caFile: join(dir, 'no-ca'), jwtFile: join(dir, 'no-jwt') });
      await auth.writeConfig({ kubernetes_host: 'k8s.example:6443', pem_keys: [issuer.pem], token_reviewer_jwt: 'reviewer' });
      await auth.writeRole('web', { bound_service_account_names: 'web', bound_service_account_namespaces: 'shop', audience: 'skiff', token_bound_cidrs: '10.0.0.0/8,192.168.1.7' });
      await first.close();

      const second = new SqliteStore(path);
      const again = new KubernetesAuth(second, new DataplaneTokens(second));
      const config = await again.readConfig();
      assert.equal(config?.kubernetes_host, 'k8s.example:6443');
      assert.equal(config?.token_reviewer_jwt, 'reviewer');
      assert.deepEqual(await again.listRoles(), ['web']);
      assert.deepEqual((await again.readRole('web'))?.token_bound_cidrs, ['10.0.0.0/8', '192.168.1.7']);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('computes Vault’s lease from ttl, period and the max TTLs', () => {
    const role = (fields: Record<string, number>) => ({ token_ttl: 0, token_max_ttl: 0, token_explicit_max_ttl: 0, token_period: 0, ...fields }) as Parameters<typeof KubernetesAuth.leaseSeconds>[0];
    assert.equal(KubernetesAuth.leaseSeconds(role({})), 2_764_800);
    assert.equal(KubernetesAuth.leaseSeconds(role({ token_max_ttl: 1800 })), 1800);
    assert.equal(KubernetesAuth.leaseSeconds(role({ token_ttl: 600, token_max_ttl: 1800 })), 600);
    assert.equal(KubernetesAuth.leaseSeconds(role({ token_period: 7200, token_max_ttl: 1800 })), 7200);
    assert.equal(KubernetesAuth.leaseSeconds(role({ token_period: 7200, token_explicit_max_ttl: 3600 })), 3600);
  });
});
