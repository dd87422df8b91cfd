#!/usr/bin/env node
import fs from 'node:fs';
import { parseSettings, SettingSpec } from '../core/settings';
import { PROBE_SETTINGS } from '../core/probe-settings';
import { parseMembers, parseWitness } from '../core/node-config';
import { SYNC_MODES, SyncMode } from '../core/sync-standbys';
import { mayPromote, GuardDecision, PeerLsn } from '../core/promotion-guard';
import { parseHistory } from '../core/standby-history';
import { loadSources } from '../adapters/load-sources';
import { probePeerLsn, detachStandby } from '../adapters/replication-probe';
import { probePeer } from '../adapters/peer-probe';
import { sendControl } from '../runtime/control-server';

/**
 * repmgr's failover_validation_command: may this node, just elected by
 * repmgrd, be promoted? Probes every other data member (short timeouts),
 * reads this standby's history (state/standby-history.json), applies the
 * promotion guard (src/core/promotion-guard.ts) and exits 0 to allow, 1 to
 * veto; the decision and its reason go to the node's log. Any doubt
 * (bad configuration, own server unreachable) is a veto.
 * Usage: pgnode-validate --config FILE [%n %a %v %t]
 */
const SPEC: readonly SettingSpec[] = [
  ...PROBE_SETTINGS,
  { name: 'PGSWARM_SYNC_MODE', kind: 'string', default: 'async', oneOf: SYNC_MODES, help: 'synchronous mode' },
  { name: 'PGSWARM_HISTORY_FILE', kind: 'path', required: true, help: 'the standby history kept by the node agent' },
  { name: 'PGSWARM_CTL_SOCKET', kind: 'path', help: 'the node agent\'s control socket (for logging)' },
  { name: 'PGSWARM_DETACH_WAIT_MS', kind: 'duration-ms', default: '3000', help: 'how long to wait for a sibling standby\'s WAL receiver to stop when detaching it' },
  { name: 'PGSWARM_WITNESS', kind: 'string', help: 'the witness, name@host:port[:sshport]: with one, promotion needs a majority of data members + witness' },
  { name: 'PGSWARM_PROMOTE_FRESH_MS', kind: 'duration-ms', default: '15000', help: 'how old the last look at the primary may be for the only-synchronous rule' },
];

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const ci = argv.indexOf('--config');
  const repmgrArgs = ci >= 0 ? [...argv.slice(0, ci), ...argv.slice(ci + 2)] : argv;
  const { sources, errors } = loadSources(ci >= 0 ? argv.slice(ci, ci + 2) : []);
  if (!sources) {
    process.stderr.write(`pgnode-validate: veto: ${errors.join('; ')}\n`);
    return 1;
  }
  const { values: v, errors: e2 } = parseSettings(SPEC, sources);
  const members = parseMembers(v.PGSWARM_PEERS as string[] | undefined, e2);
  const witness = parseWitness(v.PGSWARM_WITNESS as string | undefined, members, e2);
  const name = v.PGSWARM_NODE_NAME as string;
  const self = members.find((m) => m.name === name);
  if (!e2.length && !self) e2.push(`PGSWARM_PEERS: ${name} is not in the list`);
  const socket = v.PGSWARM_CTL_SOCKET as string | undefined;
  const report = async (d: GuardDecision, extra: Record<string, unknown>) => {
    const line = { event: 'promotion-guard', allow: d.allow, rule: d.rule, repmgr: repmgrArgs, ...extra, msg: `${d.allow ? 'promotion allowed' : 'PROMOTION VETOED'}: ${d.reason}` };
    const report = { event: 'promotion-guard', allow: d.allow, rule: d.rule, repmgr: repmgrArgs, reason: d.reason, detail: JSON.stringify(extra) };
    process.stderr.write(`pgnode-validate: ${line.msg}\n`);
    if (socket) await sendControl(socket, `report ${JSON.stringify(report)}`, 3000).catch(() => undefined);
  };
  if (e2.length || !self) {
    await report({ allow: false, rule: 'bad-config', reason: `invalid configuration: ${e2.join('; ')}` }, {});
    return 1;
  }
  const creds = { user: v.PGSWARM_REPMGR_USER as string, password: v.PGSWARM_REPMGR_PASSWORD as string, caFile: v.PGSWARM_CA_CERT_FILE as string, timeoutMs: (v.PGSWARM_CONNECT_TIMEOUT_SECS as number) * 1000 };
  const [[me, ...peers], wit] = await Promise.all([
    Promise.all([self, ...members.filter((m) => m !== self)].map((m) => probePeerLsn(m, creds))),
    witness ? probePeer(witness, creds) : Promise.resolve(null),
  ]);
  if (!me.reachable || !me.inRecovery) {
    await report({ allow: false, rule: 'self-not-standby', reason: me.reachable ? `${name} is not in recovery` : `${name} cannot reach its own server: ${me.error ?? ''}` }, {});
    return 1;
  }
  let historyText = '';
  try {
    historyText = fs.readFileSync(v.PGSWARM_HISTORY_FILE as string, 'utf8');
  } catch {
    historyText = '';
  }
  const history = historyText ? parseHistory(historyText) : null;
  const input = {
    mode: v.PGSWARM_SYNC_MODE as SyncMode,
    self: name,
    selfReceivedLsn: me.receivedLsn,
    peers: peers.map(asGuardPeer),
    history,
    now: Date.now(),
    freshMs: v.PGSWARM_PROMOTE_FRESH_MS as number,
    witness: witness && wit ? { name: witness.name, reachable: wit.reachable } : null,
  };
  let d = mayPromote(input);
  let detachReport: string[] | undefined;
  if (d.rule === 'detach-first' && d.detach) {
    // Detach the sibling standbys from the old primary, then decide again on their final LSNs.
    const wanted = new Set(d.detach);
    const results = await Promise.all(members.filter((m) => wanted.has(m.name)).map((m) => detachStandby(m, creds, v.PGSWARM_DETACH_WAIT_MS as number, name)));
    detachReport = results.map((r) => r.why);
    const after = new Map(results.map((r) => [r.peer.name, r.peer]));
    d = mayPromote({ ...input, now: Date.now(), peers: peers.map((p) => asGuardPeer(after.get(p.name) ?? p)), detached: results.filter((r) => r.detached).map((r) => r.peer.name) });
  }
  await report(d, { lsn: me.receivedLsn, peers: input.peers.map((p) => (p.reachable ? { name: p.name, inRecovery: p.inRecovery, lsn: p.receivedLsn } : { name: p.name, reachable: false })), witness: wit ? { name: wit.name, reachable: wit.reachable } : undefined, detach: detachReport, history });
  return d.allow ? 0 : 1;
}

function asGuardPeer(p: PeerLsn): PeerLsn {
  return p.reachable ? { name: p.name, reachable: true, inRecovery: p.inRecovery, receivedLsn: p.receivedLsn } : { name: p.name, reachable: false, error: p.error };
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`pgnode-validate: veto: ${e.message}\n`);
    process.exit(1);
  },
);
