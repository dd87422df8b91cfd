/**
 * The one way the agents write files (docs/security.md, "Privilege boundaries"). The agents run as
 * root; PostgreSQL, repmgr and PgBouncer run as a less-privileged user who must never be able to
 * steer a root write. Rules kept here:
 *  - a new file is created under an unpredictable temp name with O_CREAT|O_EXCL|O_NOFOLLOW (a planted
 *    symlink or hard link makes the open fail instead of being followed), its mode and owner are set
 *    on the descriptor, then it is renamed over the target in the same directory (rename replaces a
 *    planted link, it never follows it);
 *  - an existing file is read and its metadata fixed through a descriptor opened with O_NOFOLLOW;
 *  - directories root writes into are root-owned and closed to others (ensureRootDir); anything else
 *    found at such a path is moved aside, never trusted.
 */
import fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FileWriter, WriteOptions } from '../ports/ssh-identity';

export interface Owner { uid: number; gid: number }

/** Atomic replace of `file` through a fresh exclusive temp file; `owner` hands the file to another user. */
export function writeFileExclusive(file: string, content: string | Buffer, mode: number, owner?: Owner): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
  try {
    fs.writeFileSync(fd, content);
    fs.fchmodSync(fd, mode);
    if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}

/** Reads a regular file without following a symlink at its last component; null when absent or not a regular file. */
export function readNoFollow(file: string): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return null;
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes a file only when its content changed; returns whether it did. An unchanged file keeps its
 * inode (an idle agent writes nothing); its owner and mode are corrected through the descriptor. A
 * symlink, a hard-linked file (nlink > 1) or a non-regular file at the path is never trusted: it is
 * replaced.
 */
export function writeIfChanged(file: string, content: string, mode: number, owner?: Owner): boolean {
  let fd: number | null = null;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    fd = null;
  }
  if (fd !== null) {
    try {
      const st = fs.fstatSync(fd);
      if (st.isFile() && st.nlink === 1 && fs.readFileSync(fd, 'utf8') === content) {
        if (owner && (st.uid !== owner.uid || st.gid !== owner.gid)) fs.fchownSync(fd, owner.uid, owner.gid);
        if ((st.mode & 0o7777) !== mode) fs.fchmodSync(fd, mode);
        return false;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  writeFileExclusive(file, content, mode, owner);
  return true;
}

/**
 * Makes `dir` a directory owned by this process's user (root in the images), not a symlink, with
 * `mode` (default 0755: others may read, only the owner writes). Whatever else sits at that path
 * (planted by a less-privileged user of a parent directory) is moved aside first. The parent must
 * itself be closed to that user, or the check means nothing.
 */
export function ensureRootDir(dir: string, mode = 0o755): void {
  const me = process.getuid?.() ?? 0;
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(dir);
  } catch {
    st = null;
  }
  if (st && (!st.isDirectory() || st.uid !== me || (st.mode & 0o022) !== 0)) {
    fs.renameSync(dir, `${dir}.untrusted-${Date.now()}`);
    st = null;
  }
  if (!st) fs.mkdirSync(dir, { mode });
  if (!st || (st.mode & 0o7777) !== mode) fs.chmodSync(dir, mode);
}

/**
 * Makes `dir` a directory owned by `owner` with `mode`, inside a parent the owner cannot write:
 * anything else at the path (a symlink, a file, a directory of someone else) is moved aside.
 * Metadata is set through a descriptor opened with O_NOFOLLOW|O_DIRECTORY.
 */
export function ensureOwnedDir(dir: string, owner: Owner, mode: number): void {
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(dir);
  } catch {
    st = null;
  }
  if (st && !st.isDirectory()) {
    fs.renameSync(dir, `${dir}.untrusted-${Date.now()}`);
    st = null;
  }
  if (!st) fs.mkdirSync(dir, { mode });
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_DIRECTORY);
  try {
    const s = fs.fstatSync(fd);
    if (s.uid !== owner.uid || s.gid !== owner.gid) fs.fchownSync(fd, owner.uid, owner.gid);
    if ((s.mode & 0o7777) !== mode) fs.fchmodSync(fd, mode);
  } finally {
    fs.closeSync(fd);
  }
}

/** The FileWriter port (key sync, SSH identity) over the same exclusive writer. */
export class AtomicFileWriter implements FileWriter {
  async readText(p: string): Promise<string | null> {
    return readNoFollow(p);
  }

  async writeAtomic(p: string, content: string, opts: WriteOptions): Promise<void> {
    writeFileExclusive(p, content, opts.mode, opts.uid !== undefined && opts.gid !== undefined ? { uid: opts.uid, gid: opts.gid } : undefined);
  }
}
