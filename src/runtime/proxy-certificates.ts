import type { IssueProxyCertificate } from './key-sync';
import { readCsrFacts, signProxyCsr } from '../adapters/csr-signer';
import { checkProxyCsr } from '../core/csr-policy';

/**
 * A data node's answer to proxies' certificate requests: read the CSR, check it
 * against the policy (only the proxy's own enrolled name; never a node's name or
 * an address the proxy chose) and sign it with the CA key this node holds.
 */
export function proxyCertificateIssuer(o: { caCert: string; caKey: string; reservedNames: string[]; extraNames?: string[]; days?: number }): IssueProxyCertificate {
  return async (csrPem, proxyName) => {
    const check = checkProxyCsr(await readCsrFacts(csrPem), proxyName, o.reservedNames, o.extraNames ?? []);
    if (!check.ok) return check;
    return { ok: true, pem: await signProxyCsr({ csrPem, names: check.names, caCert: o.caCert, caKey: o.caKey, days: o.days }) };
  };
}
