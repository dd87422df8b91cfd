/**
 * Each data node's role in a deployed stack, as the node itself reports it: `current-primary`
 * run inside its running container (docker exec). Used by the e2e tier and the chaos suite.
 */
import type { DockerClient } from './docker';

export interface StackRoles {
  /** The primary the nodes name, when exactly one is named. */
  primary: string | null;
  /** node -> 'primary' | 'standby' | 'down' (no running task) | 'unknown' (no usable answer) */
  byNode: Record<string, string>;
  /** node -> id of its running container */
  containers: Record<string, string>;
}

export async function stackRoles(docker: DockerClient, stack: string, nodes: readonly string[], timeoutMs: number): Promise<StackRoles> {
  const byNode: Record<string, string> = {};
  const containers: Record<string, string> = {};
  const claims = new Set<string>();
  await Promise.all(nodes.map(async (n) => {
    const { task } = await docker.runningTask(stack, n).catch(() => ({ task: undefined }));
    if (!task?.containerId || task.state !== 'running') {
      byNode[n] = 'down';
      return;
    }
    containers[n] = task.containerId;
    const r = await docker.exec(task.containerId, ['current-primary'], { timeoutMs }).catch(() => null);
    const named = r ? /^PRIMARY: (\S+)/m.exec(r.stdout)?.[1] : undefined;
    const json = r?.stdout.split('\n').find((l) => l.startsWith('{'));
    let role = 'unknown';
    try {
      role = json ? String(JSON.parse(json).role) : 'unknown';
    } catch {
      /* keep unknown */
    }
    byNode[n] = role;
    if (named && named !== 'none') claims.add(named);
  }));
  return { primary: claims.size === 1 ? [...claims][0] : null, byNode, containers };
}
