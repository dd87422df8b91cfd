/**
 * The Docker Engine API through dockerode: what the operator CLI and the e2e
 * tests need (swarm state, secrets, a stack's services/tasks/containers,
 * exec, logs). Every call has a clear error when the engine is missing.
 */
import Docker from 'dockerode';
import { PassThrough } from 'node:stream';

export class DockerUnavailable extends Error {}

export interface TaskInfo {
  service: string;
  serviceId: string;
  taskId: string;
  slot?: number;
  state: string;
  desiredState: string;
  error?: string;
  containerId?: string;
  updatedAt?: string;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export class DockerClient {
  readonly api: Docker;

  constructor(opts?: Docker.DockerOptions) {
    this.api = new Docker(opts ?? (process.env.DOCKER_HOST ? undefined : { socketPath: '/var/run/docker.sock' }));
  }

  /** Throws DockerUnavailable with a hint when the engine does not answer. */
  async ping(timeoutMs = 5000): Promise<void> {
    try {
      await withTimeout(this.api.ping(), timeoutMs, 'docker ping');
    } catch (e) {
      throw new DockerUnavailable(
        `Docker engine not reachable (${(e as Error).message}). Start it with scripts/docker-engine.sh (installs Debian's docker.io and starts dockerd), or run "pgswarm up".`,
      );
    }
  }

  /** 'active' (manager), 'worker', 'inactive', or another LocalNodeState. */
  async swarmState(): Promise<string> {
    const info = (await this.api.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    const s = info.Swarm?.LocalNodeState ?? 'inactive';
    if (s === 'active' && !info.Swarm?.ControlAvailable) return 'worker';
    return s;
  }

  async requireSwarmManager(): Promise<void> {
    await this.ping();
    const s = await this.swarmState();
    if (s === 'active') return;
    if (s === 'worker') throw new DockerUnavailable('this Docker engine is a swarm worker: run pgswarm on a swarm manager');
    throw new DockerUnavailable(`this Docker engine is not in a swarm (state: ${s}). Run scripts/swarm.sh (docker swarm init) or "pgswarm up".`);
  }

  async secretNames(): Promise<string[]> {
    const list = await this.api.listSecrets();
    return list.map((s) => s.Spec?.Name ?? '').filter(Boolean);
  }

  async createSecret(name: string, data: Buffer | string, labels: Record<string, string>): Promise<void> {
    await this.api.createSecret({ Name: name, Labels: labels, Data: Buffer.from(data).toString('base64') });
  }

  async removeSecret(name: string): Promise<void> {
    const list = await this.api.listSecrets({ filters: JSON.stringify({ name: [name] }) });
    for (const s of list) if (s.Spec?.Name === name) await this.api.getSecret(s.ID).remove();
  }

  async stackServices(stack: string): Promise<Docker.Service[]> {
    return this.api.listServices({ filters: JSON.stringify({ label: [`com.docker.stack.namespace=${stack}`] }) } as Docker.ServiceListOptions);
  }

  /** The tasks of a service (short name, e.g. pgnode1), newest first. */
  async tasks(stack: string, service: string): Promise<TaskInfo[]> {
    const full = `${stack}_${service}`;
    const raw = (await this.api.listTasks({ filters: JSON.stringify({ service: [full] }) })) as any[];
    return raw
      .map((t) => ({
        service,
        serviceId: t.ServiceID,
        taskId: t.ID,
        slot: t.Slot,
        state: t.Status?.State ?? 'unknown',
        desiredState: t.DesiredState ?? 'unknown',
        error: t.Status?.Err,
        containerId: t.Status?.ContainerStatus?.ContainerID,
        updatedAt: t.UpdatedAt,
      }))
      .sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)));
  }

  /** The running task of a service and its container's health ('healthy', 'starting', 'unhealthy', 'none'). */
  async runningTask(stack: string, service: string): Promise<{ task?: TaskInfo; health: string }> {
    const ts = await this.tasks(stack, service);
    // 'starting' = the container runs but its HEALTHCHECK has not passed yet.
    const task = ts.find((t) => (t.state === 'running' || t.state === 'starting') && t.desiredState === 'running' && t.containerId);
    if (!task) return { task: ts[0], health: ts[0]?.state ?? 'none' };
    try {
      const c = await this.api.getContainer(task.containerId!).inspect();
      return { task, health: (c.State as any)?.Health?.Status ?? 'none' };
    } catch {
      return { task, health: 'unknown' };
    }
  }

  /** Runs a command in a container; stdout/stderr captured separately; bounded by timeoutMs. */
  async exec(containerId: string, cmd: string[], opts: { user?: string; timeoutMs?: number; env?: string[] } = {}): Promise<ExecResult> {
    const c = this.api.getContainer(containerId);
    const ex = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, User: opts.user, Env: opts.env });
    const stream = await ex.start({ hijack: true, stdin: false });
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (d) => (stdout += d));
    err.on('data', (d) => (stderr += d));
    this.api.modem.demuxStream(stream, out, err);
    let timedOut = false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timedOut = true;
        stream.destroy();
        resolve();
      }, opts.timeoutMs ?? 15000);
      stream.on('end', () => {
        clearTimeout(timer);
        resolve();
      });
      stream.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      stream.on('error', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    let code: number | null = null;
    if (!timedOut) {
      for (let i = 0; i < 20; i++) {
        const info = await ex.inspect();
        if (!info.Running) {
          code = info.ExitCode ?? null;
          break;
        }
        await sleep(50);
      }
    }
    return { code, stdout, stderr, timedOut };
  }

  /**
   * Writes the logs of a service's current container (the running task, else
   * the newest one) to the given writers; with follow, keeps streaming.
   * Container logs, not `service logs`: the latter can hang on Engine 20.10.
   */
  async serviceLogs(stack: string, service: string, opts: { follow: boolean; tail?: number }, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<void> {
    const ts = await this.tasks(stack, service);
    const task = ts.find((t) => t.desiredState === 'running' && t.containerId) ?? ts.find((t) => t.containerId);
    if (!task?.containerId) throw new Error(`${service}: no container (tasks: ${ts.map((t) => t.state).join(', ') || 'none'})`);
    const c = this.api.getContainer(task.containerId);
    const base = { stdout: true, stderr: true, timestamps: true, tail: opts.tail ?? 200 };
    if (!opts.follow) {
      const buf = (await c.logs({ ...base, follow: false })) as unknown as Buffer;
      demuxBuffer(Buffer.isBuffer(buf) ? buf : Buffer.from(buf as any), stdout, stderr);
      return;
    }
    const stream = (await c.logs({ ...base, follow: true })) as NodeJS.ReadableStream;
    this.api.modem.demuxStream(stream, stdout, stderr);
    await new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
  }

  async stackVolumes(stack: string): Promise<string[]> {
    const r = (await this.api.listVolumes({ filters: JSON.stringify({ label: [`com.docker.stack.namespace=${stack}`] }) } as any)) as unknown as { Volumes?: { Name: string }[] };
    return (r?.Volumes ?? []).map((v) => v.Name);
  }

  async removeVolume(name: string): Promise<void> {
    await this.api.getVolume(name).remove();
  }

  /** Containers (any state) that belong to the stack. */
  async stackContainers(stack: string): Promise<Docker.ContainerInfo[]> {
    return this.api.listContainers({ all: true, filters: JSON.stringify({ label: [`com.docker.stack.namespace=${stack}`] }) });
  }
}

/** Splits a multiplexed (non-TTY) Docker log buffer into stdout/stderr. */
export function demuxBuffer(buf: Buffer, out: NodeJS.WritableStream, err: NodeJS.WritableStream): void {
  let i = 0;
  while (i + 8 <= buf.length) {
    const type = buf[i];
    const len = buf.readUInt32BE(i + 4);
    const chunk = buf.subarray(i + 8, i + 8 + len);
    (type === 2 ? err : out).write(chunk);
    i += 8 + len;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
