import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
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
