import type { RegistryRow } from '../core/registry-row';

/** What the key-sync loop needs from the registry (pgswarm schema). */
export interface RegistryStore {
  /** Raw rows as stored: untrusted until verifyRows() says otherwise. */
  readRows(): Promise<unknown[]>;
  revokedTokenIds(): Promise<Set<string>>;
  tokenUses(): Promise<Map<string, string>>;
  /** False on a standby (read-only): writes are skipped there. */
  isWritable(): Promise<boolean>;
  /** Inserts a signed row and deletes other rows of the same kind and name (key replaced). */
  publishRow(row: RegistryRow): Promise<void>;
  listPendingEnrollments(): Promise<EnrollmentRequest[]>;
  /** In one transaction: bind the token to the key, insert the proxy row, mark the request accepted. False if the token was bound to another key meanwhile. */
  acceptEnrollment(requestId: number, tokenId: string, row: RegistryRow, decidedBy: string, certificate?: string | null): Promise<boolean>;
  refuseEnrollment(requestId: number, tokenId: string | null, reason: string, decidedBy: string): Promise<void>;
  /** A certificate renewal answered (optional: stores without certificate support never get renewals). */
  completeCertificateRequest?(requestId: number, certificate: string, decidedBy: string): Promise<void>;
  /** Deletes old decided and expired requests; counts per kind. */
  purgeEnrollments?(): Promise<{ refused: number; expired: number; accepted: number }>;
}

export interface EnrollmentRequest {
  id: number;
  token: string;
  publicKey: string;
  requestedAt: Date;
  requestedBy: string;
  /** PEM certificate request sent with the enrollment (or a renewal: token empty, proof set). */
  csr?: string | null;
  /** Renewal: base64 signature of the CSR by the enrolled SSH key. */
  proof?: string | null;
}

export interface WriteOptions {
  mode: number;
  uid?: number;
  gid?: number;
}

export interface FileWriter {
  readText(path: string): Promise<string | null>;
  writeAtomic(path: string, content: string, opts: WriteOptions): Promise<void>;
}
