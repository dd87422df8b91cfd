/**
 * The chaos suite's handle on one deployed stack: the real `pgswarm` CLI for
 * deploy/down, dockerode for tasks, containers, exec and faults.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DockerClient } from '../../src/adapters/docker';
import { stackRoles, StackRoles } from '../../src/adapters/stack-roles';
import type { NodeProber } from './prober';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'bin', 'pgswarm.js');
export const NODES = ['pgnode1', 'pgnode2', 'pgnode3'];
/** The 2+1 topology (compose/stack-2plus1.yml): two data nodes and a witness. */
export const NODES_2PLUS1 = ['pgnode1', 'pgnode2'];
export const WITNESS_2PLUS1 = 'pgwitness';
/** Volume label of the disk-full scenario's size-limited volumes (small-disks.ts), holding their size in MiB. */
export const SMALL_DISK_LABEL = 'pgswarm.chaos.small-disk-mb';
export const PROXIES = ['pgproxy1', 'pgproxy2'];
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface RunOut {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 600000): Promise<RunOut> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (process.env.PGSWARM_CHAOS_VERBOSE) process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

export type Roles = StackRoles;

export class ChaosStack {
  readonly docker = new DockerClient();
  readonly dir: string;
  /** when set, roles come from its direct samples (cheap) instead of docker exec current-primary (seconds per call on a loaded machine) */
  prober?: NodeProber;
  env: NodeJS.ProcessEnv;
  /** The data nodes of the deployed topology, and its witness service (2+1), if any. */
  nodes: string[] = NODES;
  witness: string | null = null;

  constructor(readonly stack: string, readonly port: number, readonly port2: number, deployEnv: Record<string, string>) {
    this.dir = `/tmp/pgswarm-chaos-${stack}`;
    this.env = { ...process.env, PGSWARM_PORT: String(port), PGSWARM_PORT2: String(port2), PGSWARM_IMAGE_PREFIX: process.env.PGSWARM_IMAGE_PREFIX || 'pgswarm-chaos', ...deployEnv };
  }

  /** Environment for the next deploy (sync mode etc.); unset keys are removed. */
  setDeployEnv(deployEnv: Record<string, string | undefined>): void {
    for (const [k, v] of Object.entries(deployEnv)) {
      if (v === undefined) delete this.env[k];
      else this.env[k] = v;
    }
    this.setTopology(this.env.PGSWARM_CHAOS_TOPOLOGY === '2plus1' ? '2plus1' : 'default');
  }

  /** The next deploy's environment is exactly a scenario's: every setting a scenario may set is cleared first. */
  useScenarioEnv(deployEnv: Record<string, string> | undefined): void {
    this.setDeployEnv({ PGSWARM_SYNC_MODE: undefined, PGSWARM_DEGRADE_AFTER_MS: undefined, PGSWARM_FENCE_AFTER_MS: undefined, PGSWARM_CHAOS_TOPOLOGY: undefined, PGSWARM_CHAOS_SMALL_DISKS_MB: undefined, ...(deployEnv ?? {}) });
  }

  /** PGSWARM_CHAOS_TOPOLOGY=2plus1 in a scenario's deploy environment: `pgswarm up --topology 2plus1`. */
  setTopology(t: 'default' | '2plus1'): void {
    this.nodes = t === '2plus1' ? NODES_2PLUS1 : NODES;
    this.witness = t === '2plus1' ? WITNESS_2PLUS1 : null;
  }

  cli(args: string[], timeoutMs = 600000): Promise<RunOut> {
    return run(process.execPath, [CLI, ...args, '--stack', this.stack, '--dir', this.dir], this.env, timeoutMs);
  }

  /** `pgswarm up --no-build`: secrets (kept between deploys), deploy, wait healthy, app role. */
  async up(timeoutSecs = 420): Promise<RunOut> {
    return this.cli(['up', '--no-build', '--timeout', String(timeoutSecs), ...this.topologyFlag()], (timeoutSecs + 120) * 1000);
  }

  /** docker stack deploy without waiting (the early-kill scenario). */
  async deployNoWait(): Promise<RunOut> {
    return this.cli(['deploy', ...this.topologyFlag()], 120000);
  }

  private topologyFlag(): string[] {
    return this.witness ? ['--topology', '2plus1'] : [];
  }

  async down(volumes: boolean): Promise<RunOut> {
    const r = await this.cli(volumes ? ['down', '--volumes'] : ['down'], 300000);
    // stack rm returns before the containers are gone; wait for them (volumes are in use until then)
    for (let i = 0; i < 120; i++) {
      const cs = await this.docker.stackContainers(this.stack).catch(() => []);
      if (cs.length === 0) break;
      await sleep(1000);
    }
    if (volumes) {
      for (const v of await this.docker.stackVolumes(this.stack)) await this.docker.removeVolume(v).catch(() => undefined);
    }
    return r;
  }

  /** The zero-loss settings the running stack was deployed with (non-empty ones), or null when it is not deployed. */
  async deployedSettings(): Promise<Record<string, string> | null> {
    try {
      const spec = (await this.docker.api.getService(`${this.stack}_pgnode1`).inspect()) as { Spec: { TaskTemplate: { ContainerSpec: { Env?: string[] } } } };
      const out: Record<string, string> = {};
      for (const e of spec.Spec.TaskTemplate.ContainerSpec.Env ?? []) {
        const [k, ...v] = e.split('=');
        if (['PGSWARM_SYNC_MODE', 'PGSWARM_FENCE_AFTER_MS', 'PGSWARM_DEGRADE_AFTER_MS'].includes(k) && v.join('=') !== '') out[k] = v.join('=');
      }
      // The disk-full scenario's size-limited volumes (scripts/chaos/small-disks.ts) are part of the deployment.
      const vol = (await this.docker.api.getVolume(`${this.stack}_pgnode1_data`).inspect().catch(() => null)) as { Labels?: Record<string, string> } | null;
      const mb = vol?.Labels?.[SMALL_DISK_LABEL];
      if (mb) out.PGSWARM_CHAOS_SMALL_DISKS_MB = mb;
      const witness = await this.docker.api.getService(`${this.stack}_${WITNESS_2PLUS1}`).inspect().then(() => true, () => false);
      if (witness) out.PGSWARM_CHAOS_TOPOLOGY = '2plus1';
      this.setTopology(witness ? '2plus1' : 'default');
      return out;
    } catch {
      return null;
    }
  }

  secret(name: string): string {
    return fs.readFileSync(path.join(this.dir, name), 'utf8').trim();
  }

  async container(service: string): Promise<string | undefined> {
    const { task } = await this.docker.runningTask(this.stack, service);
    return task?.state === 'running' ? task.containerId : undefined;
  }

  /**
   * Each node's role: from the prober's newest sample (PostgreSQL itself: in
   * recovery or not), or from `current-primary` inside each container.
   */
  async roles(): Promise<Roles> {
    return this.prober ? this.probedRoles() : this.currentPrimaryRoles();
  }

  async probedRoles(): Promise<Roles> {
    const byNode: Record<string, string> = {};
    const containers: Record<string, string> = {};
    const primaries: string[] = [];
    for (const n of this.nodes) {
      const id = await this.container(n).catch(() => undefined);
      if (id) containers[n] = id;
      const x = id && this.prober!.containerOf(n) === id ? this.prober!.latest(n) : undefined;
      byNode[n] = !id ? 'down' : !x || !x.ok ? 'unknown' : x.inRecovery ? 'standby' : 'primary';
      if (byNode[n] === 'primary') primaries.push(n);
    }
    return { primary: primaries.length === 1 ? primaries[0] : null, byNode, containers };
  }

  currentPrimaryRoles(): Promise<Roles> {
    return stackRoles(this.docker, this.stack, this.nodes, 30000);
  }


  /** psql as the superuser inside a node's own container (over TLS to itself). */
  async nodeSql(container: string, sql: string, database = 'app', timeoutMs = 30000): Promise<string> {
    const script = 'PGPASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")" exec "$PGSWARM_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -At '
      + '"host=$PGSWARM_NODE_NAME port=5432 dbname=$1 user=${POSTGRES_USER:-postgres} sslmode=verify-full sslrootcert=$PGSWARM_CA_CERT_FILE connect_timeout=5" -c "$2"';
    const x = await this.docker.exec(container, ['sh', '-c', script, 'psql', database, sql], { timeoutMs });
    if (x.code !== 0) throw new Error(`psql: ${(x.stderr || x.stdout).trim().slice(0, 300)}${x.timedOut ? ' (timed out)' : ''}`);
    return x.stdout;
  }

  /**
   * Healthy for a chaos run: one primary, every other data node a standby that
   * streams to it, both proxies' containers (and the witness's) healthy. Returns a reason when not.
   */
  async whyNotHealthy(): Promise<string | null> {
    const r = await this.roles();
    if (!r.primary) return `no single primary: ${JSON.stringify(r.byNode)}`;
    const want = this.nodes.length - 1;
    const standbys = Object.values(r.byNode).filter((x) => x === 'standby').length;
    if (r.byNode[r.primary] !== 'primary' || standbys !== want) return `roles ${JSON.stringify(r.byNode)}`;
    const streaming = this.prober
      ? String(this.prober.latest(r.primary)?.streaming ?? 'unknown')
      : (await this.nodeSql(r.containers[r.primary], "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", 'postgres', 30000).catch((e) => `error ${(e as Error).message}`)).trim();
    if (streaming !== String(want)) return `primary ${r.primary}: ${streaming} standbys streaming`;
    for (const p of [...PROXIES, ...(this.witness ? [this.witness] : [])]) {
      const { task, health } = await this.docker.runningTask(this.stack, p);
      if (task?.state !== 'running' || health !== 'healthy') return `${p}: ${task?.state ?? 'none'}/${health}`;
    }
    return null;
  }

  async waitHealthy(timeoutMs: number): Promise<string | null> {
    const end = Date.now() + timeoutMs;
    let why: string | null = 'not checked';
    while (Date.now() < end) {
      why = await this.whyNotHealthy().catch((e) => `error ${(e as Error).message}`);
      if (!why) return null;
      await sleep(2000);
    }
    return why;
  }

  /** The last `lines` warning/error log lines of a container (evidence for the report). */
  async logTail(container: string, lines = 400, filter = /"level":(40|50|60)|fence|promot|follow|guard|refus|sync-/): Promise<string[]> {
    const r = await run('docker', ['logs', '--tail', String(lines), container], process.env, 30000);
    return (r.stdout + r.stderr).split('\n').filter((l) => filter.test(l)).slice(-15).map((l) => l.slice(0, 400));
  }
}
