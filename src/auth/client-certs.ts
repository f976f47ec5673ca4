import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The admin client certificates of `apiServer.authn.type: adminClientCerts` (deprecated in Kuma,
 * still supported): every `*.pem` in `apiServer.auth.clientCertsDir`, matched by SHA-256 fingerprint.
 */
export class AdminClientCerts {
  private readonly fingerprints: Set<string>;

  constructor(dir: string) {
    if (!dir) throw new Error('apiServer.authn.type adminClientCerts needs apiServer.auth.clientCertsDir (KUMA_API_SERVER_AUTH_CLIENT_CERTS_DIR)');
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.pem'));
    } catch (err) {
      throw new Error(`apiServer.auth.clientCertsDir ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    this.fingerprints = new Set(
      files.map((f) => {
        try {
          return new X509Certificate(readFileSync(join(dir, f))).fingerprint256;
        } catch (err) {
          throw new Error(`apiServer.auth.clientCertsDir: ${f} is not a PEM certificate: ${(err as Error).message}`);
        }
      }),
    );
  }

  get size(): number {
    return this.fingerprints.size;
  }

  allows(fingerprint256: string | undefined): boolean {
    return fingerprint256 !== undefined && this.fingerprints.has(fingerprint256);
  }
}
