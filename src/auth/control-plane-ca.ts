import 'reflect-metadata'; // @peculiar/x509 resolves its services through tsyringe, which needs it
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { isAlreadyExists } from '../core/errors.js';
import type { ResourceStore } from '../store/store.js';
import { waitForLeaderWork } from '../store/wait-for-leader.js';
import { pem } from '../core/pem.js';
import { randomSerial, RSA, subjectAltNames, type CertificatePair } from './server-cert.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** The global secret holding the CA (certificate and key PEM, concatenated) shared by all instances. */
export const CONTROL_PLANE_CA_SECRET = 'control-plane-ca';
const CA_WAIT_MS = 15_000;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600_000;

async function generateCa(): Promise<CertificatePair> {
  const keys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: 'CN=skiff-control-plane-ca, O=Skiff',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + TEN_YEARS_MS),
    keys,
    signingAlgorithm: RSA,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}

function parse(secret: { spec: Record<string, unknown> }): CertificatePair {
  const text = Buffer.from(String(secret.spec.data ?? ''), 'base64').toString('utf8');
  const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(text)?.[0];
  const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(text)?.[0];
  if (!certPem || !keyPem) throw new Error(`global secret ${CONTROL_PLANE_CA_SECRET} must hold a PEM certificate and a PKCS#8 PEM key`);
  return { certPem, keyPem };
}

/**
 * The CA that issues the xDS server certificates of every control plane on a shared store, so a
 * proxy bootstrapped from one instance trusts all of them. The leader creates it (`ensure`);
 * followers wait for it (`load`).
 */
export class ControlPlaneCa {
  constructor(private readonly store: ResourceStore) {}

  private async read(): Promise<CertificatePair | undefined> {
    const secret = await this.store.get({ type: 'GlobalSecret', mesh: '', name: CONTROL_PLANE_CA_SECRET });
    return secret ? parse(secret) : undefined;
  }

  /** Leader work: creates the CA when there is none; true when this call created it. */
  async ensure(): Promise<boolean> {
    if (await this.read()) return false;
    const ca = await generateCa();
    try {
      await this.store.create({ type: 'GlobalSecret', mesh: '', name: CONTROL_PLANE_CA_SECRET, spec: { data: Buffer.from(ca.certPem + ca.keyPem).toString('base64') } });
      return true;
    } catch (err) {
      if (isAlreadyExists(err)) return false;
      throw err;
    }
  }

  /** The CA, waiting for the leader to create it. */
  async load(): Promise<CertificatePair> {
    let ca: CertificatePair | undefined;
    await waitForLeaderWork(async () => (ca = await this.read()) !== undefined, CA_WAIT_MS, `the control-plane CA (global secret ${CONTROL_PLANE_CA_SECRET}) is not created yet (the leader control plane creates it)`);
    return ca!;
  }
}

/** A server certificate for `hostnames` (DNS names or IPs), issued by `ca`, valid as long as the CA. */
export async function issueServerCertificate(ca: CertificatePair, hostnames: readonly string[]): Promise<CertificatePair> {
  const { createPrivateKey } = await import('node:crypto');
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' }), RSA, false, ['sign']);
  const keys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: 'CN=skiff-control-plane, O=Skiff',
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: caCert.notAfter,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: RSA,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(subjectAltNames(hostnames)),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}
