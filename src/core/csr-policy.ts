/**
 * What a proxy may get a TLS certificate for. A proxy (the service with
 * published ports) must not be able to mint a certificate that passes
 * verify-full for a data node or the witness, nor for an address of its
 * choosing: its CSR may name only itself (subject CN = its enrolled name,
 * DNS SAN = that name), no IP address, no wildcard, no other SAN type, no
 * CA. The signer then writes its own extensions (CA:FALSE, serverAuth only,
 * SAN = the proxy's name plus names the operator configured on the nodes),
 * never the CSR's.
 */
export interface CsrFacts {
  /** The CSR's self-signature verifies (the requester holds the key). */
  signatureOk: boolean;
  /** Subject as RFC 2253 attributes, e.g. ["CN=pgproxy1"]. */
  subject: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** SAN entries of any other type (email, URI, otherName…), as printed. */
  otherNames: string[];
  /** Requests basicConstraints CA:TRUE. */
  requestsCa: boolean;
}

export type CsrCheck = { ok: true; names: string[] } | { ok: false; reason: string };

const PROXY_NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;

export const CSR_PROOF_DOMAIN = 'pgswarm/csr-proof/v1\n';

/** The bytes a proxy signs with its SSH key to renew its certificate. */
export function csrProofMessage(csrPem: string): Buffer {
  return Buffer.from(CSR_PROOF_DOMAIN + csrPem, 'utf8');
}

/**
 * @param proxyName the name the proxy enrolled as (from its verified token or trusted registry row)
 * @param reserved names that are never allowed (data nodes, witness, their hosts and aliases)
 * @param extraNames names the operator allows in every proxy certificate (node configuration, which refuses
 *   node names there), added by the signer: the operator's choice, never the requester's
 */
export function checkProxyCsr(f: CsrFacts, proxyName: string, reserved: readonly string[], extraNames: readonly string[] = []): CsrCheck {
  const lc = (x: string) => x.toLowerCase();
  const reservedSet = new Set(reserved.map(lc));
  if (!PROXY_NAME_RE.test(proxyName)) return { ok: false, reason: `proxy name ${JSON.stringify(proxyName)} cannot be a certificate name` };
  if (reservedSet.has(lc(proxyName)) || lc(proxyName) === 'localhost') return { ok: false, reason: `proxy name ${proxyName} is a node's name` };
  if (!f.signatureOk) return { ok: false, reason: 'CSR self-signature does not verify' };
  if (f.requestsCa) return { ok: false, reason: 'CSR asks for a CA certificate' };
  if (f.subject.length !== 1 || f.subject[0] !== `CN=${proxyName}`) return { ok: false, reason: `CSR subject must be exactly CN=${proxyName} (got ${f.subject.join(',') || 'none'})` };
  if (f.ipAddresses.length) return { ok: false, reason: `CSR asks for IP addresses ${f.ipAddresses.join(', ')}` };
  if (f.otherNames.length) return { ok: false, reason: `CSR asks for other names ${f.otherNames.join(', ')}` };
  const bad = f.dnsNames.filter((d) => d !== proxyName);
  if (bad.length) return { ok: false, reason: `CSR asks for names other than ${proxyName}: ${bad.join(', ')}` };
  const extras = extraNames.filter((n) => n !== proxyName && n !== '' && !n.includes('*'));
  return { ok: true, names: [proxyName, ...new Set(extras)] };
}
