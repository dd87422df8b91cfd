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
  acceptEnrollment(requestId: number, tokenId: string, row: RegistryRow, decidedBy: string): Promise<boolean>;
  refuseEnrollment(requestId: number, tokenId: string | null, reason: string, decidedBy: string): Promise<void>;
}

export interface EnrollmentRequest {
  id: number;
  token: string;
  publicKey: string;
  requestedAt: Date;
  requestedBy: string;
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
