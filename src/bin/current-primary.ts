#!/usr/bin/env node
import { parseSettings, SettingSpec } from '../core/settings';
import { PROBE_SETTINGS } from '../core/probe-settings';
import { parseMembers } from '../core/node-config';
import { formatCurrentPrimary, EXIT_ERROR, EXIT_NO_PRIMARY, EXIT_PRIMARY } from '../core/current-primary';
import { loadSources } from '../adapters/load-sources';
import { probeCurrentPrimary } from '../adapters/current-primary-probe';
import { asWitnessAnswer } from '../core/witness-answer';

/**
 * current-primary: prints `PRIMARY: <name>` and a JSON line. It is the proxy
 * key's forced command, so it takes no input from the caller: SSH_ORIGINAL_COMMAND
 * and extra arguments are ignored. Exit 0 = primary found, 3 = none, 2 = error.
 */
const SPEC: readonly SettingSpec[] = [
  ...PROBE_SETTINGS,
  // Must stay well below the proxy's PGSWARM_SSH_TIMEOUT_MS: a dead container's address hangs instead of
  // refusing (field notes pitfall 8), and every answer waits for the slowest member.
  { name: 'PGSWARM_PROBE_TIMEOUT_MS', kind: 'duration-ms', default: '800', help: 'per-member probe timeout' },
  { name: 'PGSWARM_ROLE', kind: 'string', default: 'data', oneOf: ['data', 'witness'], help: 'witness: answer as the 2+1 topology\'s referee (role=witness)' },
];

async function main(): Promise<number> {
  const argv = process.argv.slice(2).filter((a, i, all) => a === '--config' || all[i - 1] === '--config' || a.startsWith('--config='));
  const { sources, errors } = loadSources(argv);
  if (!sources) {
    process.stderr.write(`current-primary: ${errors.join('; ')}\n`);
    return EXIT_ERROR;
  }
  const { values: v, errors: e2 } = parseSettings(SPEC, sources);
  const members = parseMembers(v.PGSWARM_PEERS as string[] | undefined, e2);
  if (e2.length) {
    process.stderr.write(`current-primary: invalid configuration:\n${e2.map((x) => `  - ${x}`).join('\n')}\n`);
    return EXIT_ERROR;
  }
  const creds = { user: v.PGSWARM_REPMGR_USER as string, password: v.PGSWARM_REPMGR_PASSWORD as string, caFile: v.PGSWARM_CA_CERT_FILE as string, timeoutMs: v.PGSWARM_PROBE_TIMEOUT_MS as number };
  const probed = await probeCurrentPrimary(v.PGSWARM_NODE_NAME as string, members, creds);
  const r = v.PGSWARM_ROLE === 'witness' ? asWitnessAnswer(probed) : probed;
  process.stdout.write(formatCurrentPrimary(r));
  return r.primary ? EXIT_PRIMARY : EXIT_NO_PRIMARY;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`current-primary: ${e.message}\n`);
    process.exit(EXIT_ERROR);
  },
);
