/** Faults injected into one stack's containers (docker CLI, dockerode, nsenter + iptables). */
import { ChaosStack, run, sleep } from './swarm';

export async function dockerKill(s: ChaosStack, container: string, signal = 'KILL'): Promise<void> {
  await s.docker.api.getContainer(container).kill({ signal });
}

/** SIGKILL of the postmaster only, inside the container: the node's agent restarts it (crash recovery). */
export async function killPostmaster(s: ChaosStack, container: string): Promise<string> {
  const r = await s.docker.exec(container, ['sh', '-c', 'p=$(head -1 "${PGDATA:-/var/lib/pgswarm/data}/postmaster.pid") && kill -9 "$p" && echo "$p"'], { timeoutMs: 10000 });
  if (r.code !== 0) throw new Error(`kill postmaster: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

const networkName = (s: ChaosStack) => `${s.stack}_db`;

export interface Partition {
  method: string;
  heal: () => Promise<void>;
}

/**
 * Cuts a container off the stack's overlay network: iptables DROP on its overlay interface, both
 * directions, inside its network namespace (nsenter). It keeps its address and its DNS name, open
 * connections hang rather than fail, and the heal (deleting the two rules) restores exactly what
 * was there, as a real network partition does. (`docker network disconnect` + `connect` was used
 * first: it did not bring back the task's DNS name, so the "healed" partition went on.)
 */
export async function partition(s: ChaosStack, container: string): Promise<Partition> {
  const net = networkName(s);
  const info = await s.docker.api.getContainer(container).inspect();
  const ip = (info.NetworkSettings.Networks as Record<string, { IPAddress: string }>)[net]?.IPAddress;
  const pid = info.State.Pid;
  if (!ip || !pid) throw new Error(`partition: ${container} has no address on ${net} or no pid`);
  const addrs = await run('nsenter', ['-t', String(pid), '-n', 'ip', '-o', '-4', 'addr', 'show'], process.env, 10000);
  const iface = addrs.stdout.split('\n').find((l) => l.includes(` ${ip}/`))?.split(/\s+/)[1];
  if (!iface) throw new Error(`partition: interface of ${ip} not found: ${addrs.stdout}`);
  const rules = [['INPUT', '-i'], ['OUTPUT', '-o']];
  for (const [chain, dir] of rules) {
    const r = await run('nsenter', ['-t', String(pid), '-n', 'iptables', '-I', chain, dir, iface, '-j', 'DROP'], process.env, 10000);
    if (r.code !== 0) throw new Error(`iptables: ${r.stderr.trim()}`);
  }
  return {
    method: `iptables DROP on ${iface} (${ip}) in the container's netns`,
    heal: async () => {
      for (const [chain, dir] of rules) {
        const r = await run('nsenter', ['-t', String(pid), '-n', 'iptables', '-D', chain, dir, iface, '-j', 'DROP'], process.env, 10000);
        if (r.code !== 0) throw new Error(`iptables -D: ${r.stderr.trim()}`);
      }
    },
  };
}

export async function setCpus(container: string, cpus: string): Promise<void> {
  const r = await run('docker', ['update', '--cpus', cpus, container], process.env, 30000);
  if (r.code !== 0) throw new Error(`docker update --cpus ${cpus}: ${r.stderr.trim()}`);
}

/**
 * Freezes a container for ms, then thaws it: the cgroup freezer (docker pause), or, where the
 * runtime cannot freeze (seen here: "OCI runtime pause failed: unable to freeze"), SIGSTOP of
 * every process in it from the host, then SIGCONT. Returns the method used.
 */
export async function freeze(s: ChaosStack, container: string, ms: number): Promise<string> {
  const c = s.docker.api.getContainer(container);
  try {
    await c.pause();
  } catch (e) {
    const top = (await c.top({ ps_args: '-eo pid' })) as { Processes?: string[][] };
    const pids = (top.Processes ?? []).map((p) => Number(p[0])).filter((p) => p > 0);
    const signal = (sig: NodeJS.Signals) => {
      for (const p of pids) {
        try {
          process.kill(p, sig);
        } catch {
          /* gone */
        }
      }
    };
    signal('SIGSTOP');
    try {
      await sleep(ms);
    } finally {
      signal('SIGCONT');
    }
    return `SIGSTOP/SIGCONT of ${pids.length} processes (docker pause refused: ${(e as Error).message.slice(0, 100)})`;
  }
  try {
    await sleep(ms);
  } finally {
    await c.unpause();
  }
  return 'docker pause';
}
