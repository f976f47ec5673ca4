import 'reflect-metadata';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, webcrypto, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import * as x509 from '@peculiar/x509';
import { SignJWT } from 'jose';
import { generateTlsCertificate } from '../../src/auth/server-cert.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A stand-in Kubernetes service-account token issuer: its own signing key, tokens in both claim shapes. */
export interface Issuer {
  alg: 'RS256' | 'ES256';
  privateKey: KeyObject;
  /** What goes in `pem_keys`: the public key (SPKI PEM) or a certificate carrying it. */
  pem: string;
}

export async function rsaIssuer(): Promise<Issuer> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { alg: 'RS256', privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** An ECDSA P-256 issuer whose `pem` is a self-signed certificate (pem_keys takes certificates too). */
export async function ecIssuerWithCertificate(): Promise<Issuer> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=service-account-issuer',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    keys,
    signingAlgorithm: alg,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { alg: 'ES256', privateKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }), pem: cert.toString('pem') };
}

export interface Account {
  namespace: string;
  name: string;
  uid?: string;
}

export const uidOf = (a: Account) => a.uid ?? `uid-${a.namespace}-${a.name}`;

/** A legacy (secret-based) service-account token: no audience, no expiry, claims at the top level. */
export function legacyToken(issuer: Issuer, account: Account, overrides: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({
    iss: 'kubernetes/serviceaccount',
    sub: `system:serviceaccount:${account.namespace}:${account.name}`,
    'kubernetes.io/serviceaccount/namespace': account.namespace,
    'kubernetes.io/serviceaccount/secret.name': `${account.name}-token-x7k2p`,
    'kubernetes.io/serviceaccount/service-account.name': account.name,
    'kubernetes.io/serviceaccount/service-account.uid': uidOf(account),
    ...overrides,
  })
    .setProtectedHeader({ alg: issuer.alg, typ: 'JWT' })
    .sign(issuer.privateKey);
}

/** A projected (bound) service-account token: audience, expiry, and the `kubernetes.io` claim. */
export function projectedToken(issuer: Issuer, account: Account, options: { audience?: string[]; expiresInS?: number; pod?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    aud: options.audience ?? ['https://kubernetes.default.svc.cluster.local'],
    sub: `system:serviceaccount:${account.namespace}:${account.name}`,
    'kubernetes.io': {
      namespace: account.namespace,
      pod: { name: options.pod ?? `${account.name}-7d9f8-abcde`, uid: randomUUID() },
      serviceaccount: { name: account.name, uid: uidOf(account) },
    },
  })
    .setProtectedHeader({ alg: issuer.alg, typ: 'JWT', kid: 'k8s-key-1' })
    .setIssuer('https://kubernetes.default.svc.cluster.local')
    .setIssuedAt(now - 10)
    .setNotBefore(now - 10)
    .setExpirationTime(now + (options.expiresInS ?? 3600))
    .sign(issuer.privateKey);
}

/** A token with `alg: none` (unsigned), as an attacker would send it. */
export function unsignedToken(account: Account): string {
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ 'kubernetes.io/serviceaccount/namespace': account.namespace, 'kubernetes.io/serviceaccount/service-account.name': account.name, 'kubernetes.io/serviceaccount/service-account.uid': uidOf(account) })}.`;
}

export interface ReviewRequest {
  authorization: string | undefined;
  path: string;
  body: Record<string, any>;
}

/**
 * A local HTTPS endpoint standing in for the Kubernetes API server's TokenReview: it records every
 * request and answers with `answer(request)` ({status, body}).
 */
export async function fakeApiServer(answer: (r: ReviewRequest) => { status: number; body: unknown }): Promise<{ url: string; caPem: string; requests: ReviewRequest[]; server: Server }> {
  const { certPem, keyPem } = await generateTlsCertificate('server', ['127.0.0.1', 'localhost']);
  const requests: ReviewRequest[] = [];
  const server = createServer({ cert: certPem, key: keyPem }, (req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      let body: Record<string, any> = {};
      try {
        body = JSON.parse(text);
      } catch {
        // recorded as {}; the test asserts on it
      }
      const r: ReviewRequest = { authorization: req.headers.authorization, path: `${req.method} ${req.url}`, body };
      requests.push(r);
      const out = answer(r);
      res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `https://127.0.0.1:${(server.address() as { port: number }).port}`, caPem: certPem, requests, server };
}

/** What the real TokenReview answers for a live service-account token. */
export function authenticated(account: Account) {
  return {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    status: { authenticated: true, user: { username: `system:serviceaccount:${account.namespace}:${account.name}`, uid: uidOf(account), groups: ['system:serviceaccounts', `system:serviceaccounts:${account.namespace}`] } },
  };
}

export const spkiOf = (pem: string) => createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
