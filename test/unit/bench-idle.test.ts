import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuShare, parseProcStat } from '../../scripts/bench-idle/cpu-times';
import { pidsBetween, PidCounter } from '../../scripts/bench-idle/pid-counter';
import { agentScript, AgentRssTracker, parseVmRssKb } from '../../scripts/bench-idle/agent-processes';
import { countFlaps } from '../../scripts/bench-idle/vote-flaps';
import { parseCpuStatNs } from '../../scripts/bench-idle/container-cpu';
import { hostCpuByComm, parsePidStat } from '../../scripts/bench-idle/host-processes';
import { parseBenchIdleArgs } from '../../scripts/bench-idle/args';

t.test('cpu share: busy excludes idle and iowait; user includes nice; system includes irq and softirq', async (t) => {
  const a = parseProcStat('cpu  100 0 50 1000 10 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n');
  const b = parseProcStat('cpu  160 20 80 1260 30 5 5 0 40 0\n');
  // deltas: user 60 nice 20 system 30 idle 260 iowait 20 irq 5 softirq 5 = 400; guest (40) is inside user already
  const s = cpuShare(a, b);
  t.equal(s.total_ticks, 400);
  t.equal(s.busy_pct, 30);
  t.equal(s.user_pct, 20);
  t.equal(s.system_pct, 10);
  t.equal(s.iowait_pct, 5);
  t.equal(cpuShare(a, a).busy_pct, 0, 'no time elapsed: 0, not NaN');
  t.throws(() => parseProcStat('intr 1 2 3\n'), /no aggregate/);
});

t.test('process spawns: PID deltas, one wrap at pid_max back to 300', async (t) => {
  t.equal(pidsBetween(100, 150, 32768), 50);
  t.equal(pidsBetween(150, 150, 32768), 0);
  t.equal(pidsBetween(32760, 305, 32768), 13, '32761..32767 then 300..305');
  const seq = [1000, 1010, 32700, 400];
  let i = 0;
  const c = new PidCounter(32768, () => seq[i++]);
  c.sample();
  c.sample();
  c.sample();
  t.equal(c.total, 10 + 31690 + (32767 - 32700) + 101);
});

t.test('agent processes: node running pgnode.js or pgproxy.js, not tini or the health check', async (t) => {
  t.equal(agentScript(['node', '/opt/pgswarm/dist/src/bin/pgnode.js']), 'pgnode.js');
  t.equal(agentScript(['/usr/bin/node', '/opt/pgswarm/dist/src/bin/pgproxy.js']), 'pgproxy.js');
  t.equal(agentScript(['node', '--max-semi-space-size=1', '/opt/pgswarm/dist/src/bin/pgnode.js']), 'pgnode.js', 'node flags before the script');
  t.equal(agentScript(['/usr/bin/tini', '--', 'node', '/opt/pgswarm/dist/src/bin/pgnode.js']), null);
  t.equal(agentScript(['node', '/opt/pgswarm/dist/src/bin/pgproxy-health.js']), null);
  t.equal(agentScript(['node', '/opt/pgswarm/dist/src/bin/pgnode-hook.js', 'promote']), null);
  t.equal(parseVmRssKb('Name:\tnode\nVmRSS:\t   81234 kB\n'), 81234);
  t.equal(parseVmRssKb('Name:\tzombie\n'), 0);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-idle-proc-'));
  try {
    const proc = (pid: number, argv: string[], rssKb: number) => {
      fs.mkdirSync(path.join(root, String(pid)));
      fs.writeFileSync(path.join(root, String(pid), 'cmdline'), argv.join('\0') + '\0');
      fs.writeFileSync(path.join(root, String(pid), 'status'), `Name:\tx\nVmRSS:\t${rssKb} kB\n`);
    };
    proc(10, ['/usr/bin/tini', '--', 'node', '/opt/pgswarm/dist/src/bin/pgnode.js'], 900000);
    proc(11, ['node', '/opt/pgswarm/dist/src/bin/pgnode.js'], 60 * 1024);
    proc(12, ['node', '/opt/pgswarm/dist/src/bin/pgproxy.js'], 50 * 1024);
    fs.mkdirSync(path.join(root, 'self'));
    const r = new AgentRssTracker();
    t.equal(r.sample(root).length, 2);
    fs.writeFileSync(path.join(root, '12', 'status'), `VmRSS:\t${70 * 1024} kB\n`);
    r.sample(root);
    t.equal(r.maxMb(), 70, 'largest RSS seen over the samples');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

t.test('answer flaps: vote and split-brain events inside the window only', async (t) => {
  const at = (s: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, s)).toISOString();
  const lines = [
    `{"level":30,"time":"${at(5)}","event":"vote","primary":"pgnode1"}`,
    `2025-01-01T00:00:11.000000000Z {"level":30,"time":"${at(11)}","event":"vote","primary":null}`,
    `{"level":40,"time":"${at(12)}","event":"split-brain","primary":"pgnode1"}`,
    `{"level":30,"time":"${at(13)}","event":"node-answer","node":"pgnode2","kind":"timeout"}`,
    `{"level":30,"time":"${at(14)}","event":"route","primary":"pgnode1"}`,
    'PgBouncer plain text line',
    '{"broken json',
    `{"level":30,"time":"${at(30)}","event":"vote","primary":"pgnode1"}`,
  ].join('\n');
  t.same(countFlaps(lines, Date.parse(at(10)), Date.parse(at(20))), { vote: 1, splitBrain: 1, nodeAnswer: 1 });
  t.same(countFlaps('', 0, Date.now()), { vote: 0, splitBrain: 0, nodeAnswer: 0 });
});

t.test('cgroup v2 cpu.stat and /proc/<pid>/stat parsing', async (t) => {
  t.equal(parseCpuStatNs('usage_usec 1500\nuser_usec 1000\n'), 1500000);
  t.equal(parseCpuStatNs('nr_periods 0\n'), null);
  const stat = '1234 (containerd-shim) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 10 0 500 1000 200';
  t.same(parsePidStat(stat), { comm: 'containerd-shim', ticks: 325 });
  t.same(parsePidStat('99 (a (weird) name) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0'), { comm: 'a (weird) name', ticks: 10 });
  const a = new Map([[1, { comm: 'dockerd', ticks: 100 }], [2, { comm: 'containerd', ticks: 50 }], [3, { comm: 'old', ticks: 5 }]]);
  const b = new Map([[1, { comm: 'dockerd', ticks: 180 }], [2, { comm: 'containerd', ticks: 60 }], [4, { comm: 'new', ticks: 99 }]]);
  t.same(hostCpuByComm(a, b), [{ comm: 'dockerd', ticks: 80 }, { comm: 'containerd', ticks: 10 }]);
});

t.test('bench:idle arguments', async (t) => {
  const d = parseBenchIdleArgs([]);
  t.same(d.errors, []);
  t.match(d.args, { seconds: 60, settle: 10, deploy: true, keep: true, stack: 'pgswarm' });
  const a = parseBenchIdleArgs(['--seconds', '30', '--no-deploy', '--down', '--stack=bench1', '--settle', '0']);
  t.same(a.errors, []);
  t.match(a.args, { seconds: 30, settle: 0, deploy: false, keep: false, stack: 'bench1' });
  const bad = parseBenchIdleArgs(['--seconds', '0', '--stack', 'Bad Name', '--keep', '--down', '--frob', '--timeout']);
  t.equal(bad.errors.length, 5, bad.errors.join('; '));
});
