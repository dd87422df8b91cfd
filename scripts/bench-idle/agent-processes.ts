/**
 * Our agent processes as the host sees them: every /proc/<pid> whose command
 * line is `node …/pgnode.js` (data node or witness) or `node …/pgproxy.js`
 * (tini, in front of them, names the script too but is not the agent), with
 * its resident memory.
 */
import fs from 'node:fs';
import path from 'node:path';

export const AGENT_SCRIPTS = ['pgnode.js', 'pgproxy.js'] as const;

export interface AgentProcess {
  pid: number;
  script: string;
  rssKb: number;
}

/** The agent script an argv runs, or null: argv[0] is node, the first argument that is not a node flag one of AGENT_SCRIPTS. */
export function agentScript(argv: readonly string[]): string | null {
  if (argv.length < 2 || !/^node(js)?$/.test(path.basename(argv[0]))) return null;
  const first = argv.slice(1).find((a) => !a.startsWith('-'));
  const s = first ? path.basename(first) : '';
  return (AGENT_SCRIPTS as readonly string[]).includes(s) ? s : null;
}

/** VmRSS in kB from /proc/<pid>/status text (0 when absent, e.g. a zombie). */
export function parseVmRssKb(status: string): number {
  return Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0);
}

export function findAgents(procRoot = '/proc'): AgentProcess[] {
  const out: AgentProcess[] = [];
  for (const name of fs.readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = fs.readFileSync(path.join(procRoot, name, 'cmdline'), 'utf8').split('\0').filter(Boolean);
      const script = agentScript(argv);
      if (!script) continue;
      out.push({ pid: Number(name), script, rssKb: parseVmRssKb(fs.readFileSync(path.join(procRoot, name, 'status'), 'utf8')) });
    } catch {
      /* the process ended while we looked */
    }
  }
  return out;
}

/** Keeps the largest RSS seen per agent process over repeated samples. */
export class AgentRssTracker {
  readonly maxKbByPid = new Map<number, { script: string; kb: number }>();

  sample(procRoot = '/proc'): AgentProcess[] {
    const found = findAgents(procRoot);
    for (const a of found) {
      const prev = this.maxKbByPid.get(a.pid);
      if (!prev || a.rssKb > prev.kb) this.maxKbByPid.set(a.pid, { script: a.script, kb: a.rssKb });
    }
    return found;
  }

  maxMb(): number {
    const kbs = [...this.maxKbByPid.values()].map((v) => v.kb);
    return kbs.length ? Math.round((Math.max(...kbs) / 1024) * 10) / 10 : 0;
  }
}
