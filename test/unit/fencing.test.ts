import t from 'tap';
import { decideFence, quorum, FenceInput } from '../../src/core/fencing';
import { parseThrottledMs, throttledShare } from '../../src/core/cpu-throttle';

// 3 data nodes + 1 proxy = 4 voters, 3 needed
const base: FenceInput = { dataMembers: 3, witnesses: 0, proxies: 1, reachablePeers: 2, reachableWitnesses: 0, reachableProxies: 1, majorityLostForMs: 0, fenceAfterMs: 6000, newerPrimary: null, successorPossible: true };

interface Case { name: string; in: Partial<FenceInput>; fence: boolean; rule: string; majority: boolean }
const cases: Case[] = [
  { name: 'everything reachable', in: {}, fence: false, rule: 'majority', majority: true },
  { name: 'one standby down: still a majority (3 of 4)', in: { reachablePeers: 1 }, fence: false, rule: 'majority', majority: true },
  { name: 'both standbys down, proxy up: 2 of 4, grace period', in: { reachablePeers: 0, majorityLostForMs: 1000 }, fence: false, rule: 'grace', majority: false },
  { name: 'both standbys down for longer than the limit: fence', in: { reachablePeers: 0, majorityLostForMs: 6000 }, fence: true, rule: 'majority-lost', majority: false },
  { name: 'cut off from everything past the limit: fence', in: { reachablePeers: 0, reachableProxies: 0, majorityLostForMs: 60000 }, fence: true, rule: 'majority-lost', majority: false },
  { name: 'fencing off: never on lost majority', in: { reachablePeers: 0, reachableProxies: 0, majorityLostForMs: 60000, fenceAfterMs: 0 }, fence: false, rule: 'fencing-off', majority: false },
  { name: 'a newer primary: fence at once, even with a majority', in: { newerPrimary: 'n2' }, fence: true, rule: 'newer-primary', majority: true },
  { name: 'a newer primary with fencing off: still fence', in: { newerPrimary: 'n2', fenceAfterMs: 0 }, fence: true, rule: 'newer-primary', majority: true },
  { name: '2+1 with witness, no proxy: primary + witness = 2 of 3', in: { dataMembers: 2, witnesses: 1, proxies: 0, reachablePeers: 0, reachableWitnesses: 1, reachableProxies: 0, majorityLostForMs: 60000 }, fence: false, rule: 'majority', majority: true },
  { name: '2+1, witness and standby gone: fence', in: { dataMembers: 2, witnesses: 1, proxies: 0, reachablePeers: 0, reachableWitnesses: 0, reachableProxies: 0, majorityLostForMs: 7000 }, fence: true, rule: 'majority-lost', majority: false },
  { name: '3 data + 2 proxies, standbys gone, both proxies up: 3 of 5', in: { proxies: 2, reachablePeers: 0, reachableProxies: 2, majorityLostForMs: 60000 }, fence: false, rule: 'majority', majority: true },
  { name: 'new cluster, standbys still cloning (none streamed yet): no successor possible, no fence', in: { reachablePeers: 0, reachableProxies: 0, majorityLostForMs: 60000, successorPossible: false }, fence: false, rule: 'no-successor', majority: false },
  { name: 'cut off past the limit while CPU-throttled 90% of the probe round: no fence on this round (starved)', in: { reachablePeers: 0, reachableProxies: 0, majorityLostForMs: 60000, throttledShare: 0.9 }, fence: false, rule: 'starved', majority: false },
  { name: 'throttled 10% of the round: below the starved share, fence', in: { reachablePeers: 0, reachableProxies: 0, majorityLostForMs: 60000, throttledShare: 0.1 }, fence: true, rule: 'majority-lost', majority: false },
  { name: 'throttling unknown (no cgroup figures): fence as before', in: { reachablePeers: 0, reachableProxies: 0, majorityLostForMs: 60000, throttledShare: null }, fence: true, rule: 'majority-lost', majority: false },
  { name: 'throttled, but a newer primary exists: fence at once', in: { newerPrimary: 'n2', throttledShare: 1 }, fence: true, rule: 'newer-primary', majority: true },
  { name: 'throttled with a majority reachable: nothing to decide', in: { throttledShare: 1 }, fence: false, rule: 'majority', majority: true },
  { name: 'no successor possible, but a newer primary exists: fence anyway', in: { newerPrimary: 'n3', successorPossible: false }, fence: true, rule: 'newer-primary', majority: true },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const d = decideFence({ ...base, ...c.in });
    t.equal(d.fence, c.fence, d.reason);
    t.equal(d.rule, c.rule);
    t.equal(d.majority, c.majority);
    t.ok(d.reason.length > 10);
  });
}

t.test('quorum counts this node and needs a strict majority', async (t) => {
  t.same(quorum({ dataMembers: 3, witnesses: 0, proxies: 1, reachablePeers: 1, reachableWitnesses: 0, reachableProxies: 0 }), { reachable: 2, total: 4, need: 3, majority: false });
  t.same(quorum({ dataMembers: 1, witnesses: 0, proxies: 0, reachablePeers: 0, reachableWitnesses: 0, reachableProxies: 0 }), { reachable: 1, total: 1, need: 1, majority: true });
});

t.test('cgroup CPU throttling: cpu.stat of v1 and v2, share of a probe round', async (t) => {
  t.equal(parseThrottledMs('nr_periods 10\nnr_throttled 4\nthrottled_time 2500000000\nnr_bursts 0\n'), 2500, 'v1: nanoseconds');
  t.equal(parseThrottledMs('usage_usec 1\nuser_usec 1\nsystem_usec 0\nnr_periods 5\nnr_throttled 2\nthrottled_usec 1500000\n'), 1500, 'v2: microseconds');
  t.equal(parseThrottledMs('usage_usec 1\n'), null, 'no throttling figures');
  t.equal(throttledShare(1000, 2800, 2000), 0.9);
  t.equal(throttledShare(1000, 1000, 2000), 0);
  t.equal(throttledShare(null, 1000, 2000), null, 'unknown before');
  t.equal(throttledShare(5000, 1000, 2000), null, 'counter went back (new cgroup): unknown');
  t.equal(throttledShare(0, 9000, 2000), 1, 'capped at the whole round');
});
