import { utils } from 'ssh2';

/**
 * Proof of possession of an SSH key: a proxy signs a message with its private
 * key (read from its volume, never sent) and a node checks it against the
 * enrolled public key line.
 */
export function signWithSshKey(privateKey: Buffer | string, message: Buffer): string {
  const k = utils.parseKey(privateKey);
  if (k instanceof Error) throw k;
  const key = Array.isArray(k) ? k[0] : k;
  return Buffer.from(key.sign(message)).toString('base64');
}

export function verifySshSignature(publicKeyLine: string, message: Buffer, signatureB64: string): boolean {
  try {
    const k = utils.parseKey(publicKeyLine);
    if (k instanceof Error) return false;
    const key = Array.isArray(k) ? k[0] : k;
    if (key.isPrivateKey()) return false;
    return key.verify(message, Buffer.from(signatureB64, 'base64')) === true;
  } catch {
    return false;
  }
}
