import 'reflect-metadata'; // @peculiar/x509 resolves its services through tsyringe, which needs it
import { webcrypto } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as x509 from '@peculiar/x509';
import { mkdirPrivate, PRIVATE_FILE_MODE } from '../store/private-files.js';
import { pem } from '../core/pem.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

/** The RSA 2048 / SHA-256 signing algorithm of the control plane's own certificates. */
export const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const;

/** A random positive 128-bit certificate serial (hex). */
export const randomSerial = () => Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');

/** Host names and IP addresses as SAN entries. */
export const subjectAltNames = (hostnames: readonly string[]) =>
  hostnames.map((h) => (/^[0-9.]+$|:/.test(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));


/**
 * A self-signed RSA 2048 server certificate for the control plane's own endpoints (xDS, HTTPS API),
 * valid for `hostnames` (DNS names or IP addresses) for ten years, as Kuma generates one at first start.
 */
export async function generateServerCertificate(hostnames: readonly string[]): Promise<CertificatePair> {
  return generateTlsCertificate('server', hostnames);
}

/**
 * A self-signed RSA 2048 certificate for TLS servers (`hostnames` in the SAN) or clients (what
 * `skiffctl generate tls-certificate --type=client` makes for admin client certificates).
 */
export async function generateTlsCertificate(type: 'server' | 'client', hostnames: readonly string[] = []): Promise<CertificatePair> {
  const keys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = new Date();
  const names = subjectAltNames(hostnames);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: type === 'server' ? 'CN=skiff-control-plane, O=Skiff' : 'CN=skiff-admin-client, O=Skiff',
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + 10 * 365 * 24 * 3600_000),
    keys,
    signingAlgorithm: RSA,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([type === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
    ],
  });
  const keyDer = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem') + '\n', keyPem: pem('PRIVATE KEY', keyDer) };
}

/**
 * The certificate at (certFile, keyFile): read if both exist, otherwise generated and written there
 * (the key readable by the owner only), so it survives restarts and clients can pin it.
 */
export async function loadOrCreateServerCertificate(certFile: string, keyFile: string, hostnames: readonly string[]): Promise<CertificatePair & { created: boolean }> {
  if (existsSync(certFile) && existsSync(keyFile)) {
    return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8'), created: false };
  }
  const pair = await generateServerCertificate(hostnames);
  mkdirPrivate(dirname(certFile));
  mkdirPrivate(dirname(keyFile));
  if (existsSync(keyFile)) chmodSync(keyFile, PRIVATE_FILE_MODE); // a stray key without its certificate: narrow before rewriting
  writeFileSync(keyFile, pair.keyPem, { mode: PRIVATE_FILE_MODE });
  writeFileSync(certFile, pair.certPem, { mode: 0o644 });
  return { ...pair, created: true };
}

/**
 * The TLS material of one of the control plane's servers: the configured files (both must be set
 * and readable: a typo must not silently become a generated certificate), or a certificate
 * generated at first start into `{workDir}/certs/{name}.crt|.key` and reused afterwards.
 */
export async function serverTlsMaterial(options: {
  certFile: string;
  keyFile: string;
  /** Config path for messages, e.g. `xdsServer` (keys `tlsCertFile`, `tlsKeyFile`). */
  configPath: string;
  workDir: string;
  name: string;
  hostnames: readonly string[];
  onGenerated?: (certFile: string) => void;
}): Promise<{ cert: Buffer; key: Buffer; certFile: string }> {
  const { certFile, keyFile, configPath } = options;
  if (certFile || keyFile) {
    if (!certFile || !keyFile) throw new Error(`${configPath}.tlsCertFile and ${configPath}.tlsKeyFile must be set together`);
    const read = (path: string, key: string) => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new Error(`${configPath}.${key} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    };
    return { cert: read(certFile, 'tlsCertFile'), key: read(keyFile, 'tlsKeyFile'), certFile };
  }
  const generatedCert = resolve(options.workDir, 'certs', `${options.name}.crt`);
  const pair = await loadOrCreateServerCertificate(generatedCert, resolve(options.workDir, 'certs', `${options.name}.key`), options.hostnames);
  if (pair.created) options.onGenerated?.(generatedCert);
  return { cert: Buffer.from(pair.certPem), key: Buffer.from(pair.keyPem), certFile: generatedCert };
}

/** Names the control plane's own certificates are valid for. */
export function controlPlaneHostnames(advertisedHostname: string): string[] {
  return [...new Set([advertisedHostname, 'localhost', '127.0.0.1', '::1'])];
}
