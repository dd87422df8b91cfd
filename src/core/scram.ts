import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password, computed
 * locally so that `ALTER ROLE ... PASSWORD '<verifier>'` never sends (or logs)
 * the plain password. Passwords are used as UTF-8 without SASLprep, which is
 * what PostgreSQL does for passwords that are not valid UTF-8 and gives the
 * same result for ASCII passwords (the ones our secrets generator makes).
 */
export function scramVerifier(password: string, salt: Uint8Array, iterations = 4096): string {
  if (salt.length < 16) throw new Error('scramVerifier: salt must be at least 16 bytes');
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), Buffer.from(salt), iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${Buffer.from(salt).toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
