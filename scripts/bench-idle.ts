/**
 * bench:idle — what an idle cluster costs the machine. Makes sure the Docker
 * engine and the swarm are up, deploys the default stack (3 pgnodes + 2
 * pgproxies) the way `npm run up` does (`pgswarm up`: images, secrets,
 * deploy, wait for health), waits until every service is healthy and a write
 * through each proxy's published port is acknowledged, lets it settle, then
 * watches it for --seconds (60) with no client traffic:
 *
 *   cpu_busy_pct          whole machine, /proc/stat: 100 x (total - idle - iowait) / total
 *   process_spawns_per_s  PIDs allocated per second (/proc/sys/kernel/ns_last_pid, wrap at pid_max)
 *   agent_rss_mb          largest RSS of any agent process (node …/pgnode.js or …/pgproxy.js), sampled every 5 s
 *   answer_flaps          proxy decision changes (`vote` + `split-brain` log events) in the window
 *
 * Before the JSON it prints where the CPU went: per container (cgroup
 * cpuacct), long-lived host processes outside containers (dockerd,
 * containerd, shims), and the remainder. The last stdout line is one JSON
 * object; progress goes to stderr. The stack is left running (see --help).
 * A stack that is not healthy and routing within --timeout is measured all
 * the same, flagged "ready": false (exit 2): on a machine the control plane
 * saturates, that is the finding.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import pg from 'pg';
import { DockerClient, demuxBuffer } from '../src/adapters/docker';
import { closeClient } from '../src/adapters/pg-connect';
import { machineInfo } from '../src/adapters/machine-info';
import { defaultDir } from '../src/cli/context';
import { cpuShare, readCpuTimes } from './bench-idle/cpu-times';
import { PidCounter } from './bench-idle/pid-counter';
import { AgentRssTracker } from './bench-idle/agent-processes';
import { countFlaps, FlapCount } from './bench-idle/vote-flaps';
import { containerCpuNs } from './bench-idle/container-cpu';
import { hostCpuByComm, snapshotHostProcesses } from './bench-idle/host-processes';
import { BENCH_IDLE_USAGE, parseBenchIdleArgs } from './bench-idle/args';

// dist/scripts/bench-idle.js -> the repository
const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'bin', 'pgswarm.js');
const SERVICE_LABEL = 'com.docker.swarm.service.name';
const PROBE_TABLE = 'pgswarm_bench_idle';

const docker = new DockerClient();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`[bench-idle] ${s}\n`);
const round1 = (x: number) => Math.round(x * 10) / 10;
const load = () => os.loadavg().map(round1);

/** Runs a command with its stdout and stderr on our stderr (stdout is kept for the result). */
function runToStderr(cmd: string, args: string[], timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 2, 2] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', () => resolve(null));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

async function must(what: string, p: Promise<number | null>): Promise<void> {
  const code = await p;
  if (code !== 0) throw new Error(`${what} failed (exit ${code})`);
}

interface StackService {
  name: string;
  image: string;
  ports: number[];
}

async function stackServices(stack: string): Promise<StackService[]> {
  const svcs = await docker.stackServices(stack);
  return svcs
    .map((s) => ({
      name: (s.Spec?.Name ?? '').slice(stack.length + 1),
      image: String((s.Spec?.TaskTemplate as { ContainerSpec?: { Image?: string } } | undefined)?.ContainerSpec?.Image ?? '').replace(/@sha256:.*/, ''),
      ports: (s.Endpoint?.Ports ?? s.Spec?.EndpointSpec?.Ports ?? []).map((p) => Number(p.PublishedPort)).filter((p) => p > 0),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

async function healthOf(stack: string, services: StackService[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  await Promise.all(services.map(async (s) => {
    const { task, health } = await docker.runningTask(stack, s.name).catch(() => ({ task: undefined, health: 'unknown' }));
    out[s.name] = task?.state === 'running' ? health : (task?.state ?? 'none');
  }));
  return out;
}

/** One acknowledged write through the proxy on `port`, as the application role (TLS verify-full against the cluster CA). */
async function writeThrough(dir: string, port: number): Promise<void> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'app',
    database: process.env.POSTGRES_DB || 'app',
    password: fs.readFileSync(path.join(dir, 'app.password'), 'utf8').trim(),
    ssl: { ca: fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8'), rejectUnauthorized: true },
    connectionTimeoutMillis: 5000,
    query_timeout: 10000,
  });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query(`CREATE TABLE IF NOT EXISTS ${PROBE_TABLE} (port int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`);
    await c.query(`INSERT INTO ${PROBE_TABLE} (port) VALUES ($1) ON CONFLICT (port) DO UPDATE SET at = now()`, [port]);
  } finally {
    await closeClient(c);
  }
}

/** Waits (bounded) until every service is healthy and a write through every proxy is acknowledged. */
async function waitReady(stack: string, dir: string, timeoutMs: number): Promise<StackService[]> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const services = await stackServices(stack);
    const health = await healthOf(stack, services);
    const line = services.map((s) => `${s.name}=${health[s.name]}`).join(' ');
    if (line !== last) log(`health: ${line || 'no services'}`);
    last = line;
    const proxies = services.filter((s) => s.name.startsWith('pgproxy'));
    if (services.length && Object.values(health).every((h) => h === 'healthy') && proxies.length) {
      const errors: string[] = [];
      for (const p of proxies) {
        for (const port of p.ports) await writeThrough(dir, port).catch((e) => errors.push(`${p.name}:${port}: ${(e as Error).message}`));
      }
      if (!errors.length) {
        log(`a write through ${proxies.map((p) => `${p.name} (port ${p.ports.join(',')})`).join(' and ')} was acknowledged`);
        return services;
      }
      if (Date.now() > deadline) throw new Error(`no acknowledged write through every proxy within ${timeoutMs / 1000} s: ${errors.join('; ')}`);
      log(`not routing yet: ${errors.join('; ')}`);
    } else if (Date.now() > deadline) {
      throw new Error(`stack ${stack} not healthy within ${timeoutMs / 1000} s: ${line || 'no services'}`);
    }
    await sleep(2000);
  }
}

class Collect extends Writable {
  text = '';
  _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString('utf8');
    cb();
  }
}

interface StackContainer {
  id: string;
  service: string;
  running: boolean;
}

async function stackContainers(stack: string): Promise<StackContainer[]> {
  const list = await docker.stackContainers(stack);
  return list.map((c) => ({ id: c.Id, service: (c.Labels?.[SERVICE_LABEL] ?? c.Names?.[0] ?? c.Id).replace(`${stack}_`, ''), running: c.State === 'running' }));
}

/** vote / split-brain / node-answer events of every container of every proxy service within [from, to]. */
async function proxyFlaps(stack: string, from: number, to: number): Promise<Record<string, FlapCount>> {
  const out: Record<string, FlapCount> = {};
  for (const c of (await stackContainers(stack)).filter((x) => x.service.startsWith('pgproxy'))) {
    const buf = (await docker.api.getContainer(c.id).logs({ stdout: true, stderr: true, follow: false, since: Math.floor(from / 1000) - 1, until: Math.ceil(to / 1000) + 1 })) as unknown as Buffer;
    const o = new Collect();
    const e = new Collect();
    demuxBuffer(Buffer.isBuffer(buf) ? buf : Buffer.from(buf), o, e);
    const f = countFlaps(`${o.text}\n${e.text}`, from, to);
    const sum = out[c.service] ?? { vote: 0, splitBrain: 0, nodeAnswer: 0 };
    out[c.service] = { vote: sum.vote + f.vote, splitBrain: sum.splitBrain + f.splitBrain, nodeAnswer: sum.nodeAnswer + f.nodeAnswer };
  }
  return out;
}

function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
}

function gitHead(): string | null {
  const r = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

async function main(): Promise<number> {
  const { args, errors } = parseBenchIdleArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${BENCH_IDLE_USAGE}\n`);
    return 0;
  }
  if (errors.length) {
    for (const e of errors) process.stderr.write(`bench-idle: ${e}\n`);
    process.stderr.write(`${BENCH_IDLE_USAGE}\n`);
    return 64;
  }
  const stack = args.stack;
  const dir = defaultDir(stack);
  const loadBefore = load();
  log(`load average before anything: ${loadBefore.join(' ')}`);
  await must('scripts/docker-engine.sh', runToStderr('bash', [path.join(ROOT, 'scripts', 'docker-engine.sh')], 300000));
  await must('scripts/swarm.sh', runToStderr('bash', [path.join(ROOT, 'scripts', 'swarm.sh')], 120000));
  if (args.deploy) {
    log(`pgswarm up --stack ${stack}`);
    await must('pgswarm up', runToStderr(process.execPath, [CLI, 'up', '--stack', stack, '--timeout', String(args.timeout)], (args.timeout + 1800) * 1000));
  } else if ((await docker.stackServices(stack)).length === 0) {
    throw new Error(`--no-deploy: stack ${stack} is not deployed (run without --no-deploy, or pass --stack)`);
  }
  // A stack that never gets ready is measured all the same (that is a result too): flagged ready=false, exit 2.
  let readyError: string | null = null;
  const services = await waitReady(stack, dir, args.timeout * 1000).catch(async (e) => {
    readyError = (e as Error).message;
    log(`NOT READY, measuring anyway: ${readyError}`);
    return stackServices(stack);
  });
  if (args.settle > 0) {
    log(`settling for ${args.settle} s`);
    await sleep(args.settle * 1000);
  }

  // ---- the window: no client traffic, nothing spawned by us
  const tck = clockTicks();
  const loadStart = load();
  const containersStart = (await stackContainers(stack)).filter((c) => c.running);
  const cgStart = new Map(containersStart.map((c) => [c.id, containerCpuNs(c.id)]));
  const dockerAllStart = containerCpuNs('');
  const hostStart = snapshotHostProcesses();
  const rss = new AgentRssTracker();
  const agentsAtStart = rss.sample();
  const pids = new PidCounter();
  const cpuStart = readCpuTimes();
  const t0 = Date.now();
  log(`measuring for ${args.seconds} s (load average ${loadStart.join(' ')}; ${agentsAtStart.length} agent processes found)`);
  const end = t0 + args.seconds * 1000;
  for (let i = 1; Date.now() < end; i++) {
    await sleep(Math.min(1000, Math.max(0, end - Date.now())));
    pids.sample();
    if (i % 5 === 0) rss.sample();
  }
  const cpuEnd = readCpuTimes();
  const t1 = Date.now();
  pids.sample();
  rss.sample();
  const dockerAllEnd = containerCpuNs('');
  const containersEnd = (await stackContainers(stack)).filter((c) => c.running);
  const cgEnd = new Map(containersEnd.map((c) => [c.id, containerCpuNs(c.id)]));
  const hostEnd = snapshotHostProcesses();
  const loadEnd = load();
  const windowS = (t1 - t0) / 1000;

  // ---- where the CPU went (% of one core; the machine has `cores` of them)
  const cores = os.cpus().length;
  const share = cpuShare(cpuStart, cpuEnd);
  const corePct = (ns: number) => round1((100 * ns) / 1e9 / windowS);
  const rows: { name: string; pct: number | null }[] = [];
  const seen = new Set<string>();
  for (const c of [...containersStart, ...containersEnd]) {
    if (seen.has(c.id)) continue;
    seen.add(c.id);
    const a = cgStart.get(c.id);
    const b = cgEnd.get(c.id);
    // a container started during the window counts from zero; one that ended has no end reading
    const d = b == null ? null : b - (a ?? 0);
    rows.push({ name: `${c.service}${containersStart.some((x) => x.id === c.id) ? '' : ' (started in the window)'}`, pct: d === null ? null : corePct(d) });
  }
  rows.sort((x, y) => (y.pct ?? -1) - (x.pct ?? -1));
  const stackPct = rows.reduce((s, r) => s + (r.pct ?? 0), 0);
  const busyCorePct = round1(share.busy_pct * cores);
  const out: string[] = [`where the CPU went over ${windowS.toFixed(1)} s (percent of ONE core; the machine has ${cores}, so ${cores * 100}% = all busy):`];
  const fmt = (name: string, pct: number | null) => `  ${name.padEnd(48)} ${pct === null ? '     ?' : `${pct.toFixed(1).padStart(6)}%`}`;
  const haveCgroups = rows.some((r) => r.pct !== null);
  for (const r of rows) out.push(fmt(`container ${stack}_${r.name}`, r.pct));
  if (haveCgroups) out.push(fmt(`all containers of stack ${stack}`, round1(stackPct)));
  const dockerAllPct = dockerAllStart !== null && dockerAllEnd !== null ? corePct(dockerAllEnd - dockerAllStart) : null;
  if (dockerAllPct !== null) out.push(fmt('all Docker containers (any stack)', dockerAllPct));
  const host = hostCpuByComm(hostStart, hostEnd).slice(0, 6);
  const hostPct = (ticks: number) => round1((100 * ticks) / tck / windowS);
  let hostSum = 0;
  for (const h of host) {
    hostSum += hostPct(h.ticks);
    out.push(fmt(`host process ${h.comm} (outside containers)`, hostPct(h.ticks)));
  }
  const rest = round1(busyCorePct - (dockerAllPct ?? stackPct) - hostSum);
  out.push(fmt('rest (short-lived host processes: runc, docker exec…)', rest));
  out.push(fmt('machine busy (/proc/stat)', busyCorePct));
  if (!haveCgroups) {
    out.push('  (no cgroup CPU accounting found; docker stats --no-stream instead:)');
    const st = spawnSync('docker', ['stats', '--no-stream', '--format', '{{.Name}}\t{{.CPUPerc}}'], { encoding: 'utf8', timeout: 60000 });
    for (const l of (st.stdout ?? '').split('\n').filter(Boolean)) out.push(`  ${l}`);
  }
  for (const l of out) process.stdout.write(`${l}\n`);

  const flaps = await proxyFlaps(stack, t0, t1).catch((e) => {
    log(`could not read the proxies' logs: ${(e as Error).message}`);
    return null;
  });
  const health = await healthOf(stack, services);
  const byScript: Record<string, number> = {};
  for (const v of rss.maxKbByPid.values()) byScript[v.script] = (byScript[v.script] ?? 0) + 1;
  const sum = (k: keyof FlapCount) => (flaps ? Object.values(flaps).reduce((s, f) => s + f[k], 0) : null);
  const voteFlaps = sum('vote');
  const splitBrain = sum('splitBrain');
  const result = {
    bench: 'idle',
    stack,
    window_s: round1(windowS),
    settle_s: args.settle,
    deployed_by_bench: args.deploy,
    ready: readyError === null,
    ready_error: readyError,
    cpu_busy_pct: share.busy_pct,
    cpu_user_pct: share.user_pct,
    cpu_system_pct: share.system_pct,
    cpu_iowait_pct: share.iowait_pct,
    cpu_steal_pct: share.steal_pct,
    stack_containers_cpu_pct: haveCgroups ? round1(stackPct / cores) : null,
    process_spawns_per_s: round1(pids.total / windowS),
    process_spawns: pids.total,
    agent_rss_mb: rss.maxMb(),
    agent_processes: byScript,
    answer_flaps: voteFlaps === null || splitBrain === null ? null : voteFlaps + splitBrain,
    split_brain_events: splitBrain,
    node_answer_changes: sum('nodeAnswer'),
    flaps_by_proxy: flaps,
    load_avg_1m: loadEnd[0],
    load_avg_end: loadEnd,
    load_avg_window_start: loadStart,
    load_avg_before_deploy: loadBefore,
    services_healthy: Object.values(health).length > 0 && Object.values(health).every((h) => h === 'healthy'),
    services: health,
    images: Object.fromEntries(services.map((s) => [s.name, s.image])),
    git_head: gitHead(),
    machine: machineInfo(),
  };
  if (args.keep) {
    log(`the stack is left running; remove it with: node dist/src/bin/pgswarm.js down --stack ${stack}   (add --volumes to delete its data too)`);
  } else {
    log(`pgswarm down --stack ${stack} (volumes and secrets kept)`);
    const code = await runToStderr(process.execPath, [CLI, 'down', '--stack', stack], 300000);
    if (code !== 0) log(`pgswarm down failed (exit ${code})`);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return readyError === null ? 0 : 2;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench-idle: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
