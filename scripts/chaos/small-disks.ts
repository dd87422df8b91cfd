/**
 * Size-limited node volumes for the disk-full scenario: each node's data volume is an ext4 file
 * system on a loop device (a sparse file on the host), created before the stack is deployed, so a
 * container can fill its own disk for real without touching the host's. The volumes carry the
 * stack's namespace label, so `pgswarm down --volumes` removes them like the stack's own; the loop
 * devices and files are released here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { run, RunOut, SMALL_DISK_LABEL } from './swarm';

const DIR = '/var/tmp/pgswarm-chaos-disks';

const imageOf = (stack: string, volume: string) => path.join(DIR, `${stack}_${volume}.img`);

async function must(what: string, p: Promise<RunOut>): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what}: ${r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`}`);
  return r.stdout.trim();
}

/** Loop devices attached to a backing file (`losetup -j`). */
async function loopsOf(file: string): Promise<string[]> {
  const out = await must(`losetup -j ${file}`, run('losetup', ['-j', file], process.env, 10000));
  return out.split('\n').map((l) => l.split(':')[0]).filter((d) => d.startsWith('/dev/loop'));
}

/** Creates `<stack>_<volume>` for each volume as an ext4 file system of `mb` MiB on its own loop device. */
export async function makeSmallDisks(stack: string, volumes: readonly string[], mb: number): Promise<string[]> {
  fs.mkdirSync(DIR, { recursive: true, mode: 0o700 });
  const made: string[] = [];
  for (const v of volumes) {
    const file = imageOf(stack, v);
    for (const lo of fs.existsSync(file) ? await loopsOf(file) : []) await must(`losetup -d ${lo}`, run('losetup', ['-d', lo], process.env, 10000));
    fs.rmSync(file, { force: true });
    await must('truncate', run('truncate', ['-s', `${mb}M`, file], process.env, 10000));
    await must('mkfs.ext4', run('mkfs.ext4', ['-q', '-F', '-m', '0', file], process.env, 60000));
    const lo = await must('losetup', run('losetup', ['--find', '--show', file], process.env, 10000));
    await must(
      `docker volume create ${stack}_${v}`,
      run('docker', ['volume', 'create', '--driver', 'local', '--opt', 'type=ext4', '--opt', `device=${lo}`, '--label', `com.docker.stack.namespace=${stack}`, '--label', `${SMALL_DISK_LABEL}=${mb}`, `${stack}_${v}`], process.env, 30000),
    );
    made.push(`${stack}_${v} = ${mb} MiB ext4 on ${lo}`);
  }
  return made;
}

/** Detaches the loop devices and removes the files of every small disk of the stack (after its volumes are gone). */
export async function releaseSmallDisks(stack: string): Promise<void> {
  if (!fs.existsSync(DIR)) return;
  for (const f of fs.readdirSync(DIR).filter((n) => n.startsWith(`${stack}_`) && n.endsWith('.img'))) {
    const file = path.join(DIR, f);
    for (const lo of await loopsOf(file)) await run('losetup', ['-d', lo], process.env, 10000);
    fs.rmSync(file, { force: true });
  }
}
