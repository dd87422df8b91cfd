import fs, { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FileWriter, WriteOptions } from '../ports/ssh-identity';

/** Writes by temp file + fsync + rename in the same directory, so readers (sshd, ssh) never see half a file. */
export class AtomicFileWriter implements FileWriter {
  async readText(p: string): Promise<string | null> {
    try {
      return await fsp.readFile(p, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async writeAtomic(p: string, content: string, opts: WriteOptions): Promise<void> {
    const dir = path.dirname(p);
    const tmp = path.join(dir, `.${path.basename(p)}.${process.pid}.${Date.now()}.tmp`);
    const fh = await fsp.open(tmp, 'wx', opts.mode);
    try {
      await fh.writeFile(content, 'utf8');
      await fh.chmod(opts.mode);
      if (opts.uid !== undefined && opts.gid !== undefined) await fh.chown(opts.uid, opts.gid);
      await fh.sync();
    } catch (e) {
      await fh.close();
      await fsp.rm(tmp, { force: true });
      throw e;
    }
    await fh.close();
    await fsp.rename(tmp, p);
  }
}

/**
 * Synchronous atomic replace: a fresh, unpredictable temp file in the same directory, created with
 * O_CREAT|O_EXCL|O_NOFOLLOW (never follows a planted link or reuses someone else's file), mode and
 * owner set on the descriptor, then rename. `owner` hands the file to another user.
 */
export function writeFileExclusive(file: string, content: string, mode: number, owner?: { uid: number; gid: number }): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
  try {
    fs.writeFileSync(fd, content);
    fs.fchmodSync(fd, mode);
    if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}
