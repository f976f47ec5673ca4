/**
 * A signing thread of svid-signer.ts: keeps the CAs it was sent (by id) and answers each request
 * with the leaf `issueLeaf` gives for it, the same bytes the event loop would have produced.
 */
import { parentPort } from 'node:worker_threads';
import { issueLeaf, type LeafSigner } from './leaf.js';
import { MAX_WORKER_CAS, type SignRequestMessage, type SignResultMessage } from './svid-signer.js';
import { SvidTemplate } from './svid-template.js';

const cas = new Map<string, LeafSigner>();

parentPort?.on('message', (m: SignRequestMessage) => {
  let answer: SignResultMessage;
  try {
    if (m.ca) {
      if (cas.size >= MAX_WORKER_CAS) cas.clear(); // as the pool forgets what it sent
      cas.set(m.caId, { seed: Buffer.from(m.ca.seed), template: new SvidTemplate({ ...m.ca.parts, issuer: Buffer.from(m.ca.parts.issuer), fixedExtensions: Buffer.from(m.ca.parts.fixedExtensions), aki: Buffer.from(m.ca.parts.aki) }) });
    }
    const ca = cas.get(m.caId);
    if (!ca) throw new Error(`CA ${m.caId} was never sent to this worker`);
    const r = m.request;
    const svid = issueLeaf({ spiffeId: r.spiffeId, validForMs: r.validForMs, ca, deterministic: { holder: r.holder, windowStartMs: r.windowStartMs } });
    answer = { seq: m.seq, certPem: svid.certPem, keyPem: svid.keyPem, notAfterMs: svid.notAfter.getTime() };
  } catch (err) {
    answer = { seq: m.seq, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(answer);
});
