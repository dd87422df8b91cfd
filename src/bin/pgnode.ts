#!/usr/bin/env node
import { parseNodeConfig, NODE_SETTINGS } from '../core/node-config';
import { describeSettings } from '../core/settings';
import { createLogger } from '../core/log';
import { loadSources, selfCommand, exitWithErrors } from '../adapters/load-sources';
import { childProcessRunner } from '../adapters/child-process-runner';
import { makeContext } from '../runtime/node-context';
import { NodeAgent } from '../runtime/node-agent';
import { nodeExtras } from '../runtime/node-extras';
import { WitnessAgent } from '../runtime/witness-agent';

/** pgnode: the container's entrypoint. Decides its role, sets itself up, supervises postgres and repmgrd. */
async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(`pgnode [--config FILE]\n\nSettings (environment, NAME_FILE for secrets, or keys of the --config JSON file):\n${describeSettings(NODE_SETTINGS)}\n`);
    return;
  }
  const { sources, errors } = loadSources(process.argv.slice(2));
  if (!sources) exitWithErrors('pgnode', errors);
  const { config, errors: cfgErrors } = parseNodeConfig(sources);
  if (!config) exitWithErrors('pgnode', cfgErrors);
  const log = createLogger('pgnode', { level: config.logLevel }).child({ node: config.nodeName });
  const ctx = makeContext(config, log, childProcessRunner, selfCommand);
  // PGSWARM_ROLE=witness: the same image and entrypoint run a referee without data (docs/zero-loss.md).
  const agent = config.role === 'witness' ? new WitnessAgent(ctx) : new NodeAgent(ctx, nodeExtras(ctx));
  let stopping = false;
  const onSignal = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'signal', signal: sig }, `received ${sig}`);
    agent.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => ctx.sup.signal('postgres', 'SIGHUP'));
  const code = await agent.run();
  if (!stopping) {
    if (code !== 0) log.fatal({ event: 'exit', code, decision: agent.last }, `exiting: ${agent.last?.reason ?? 'error'}`);
    await agent.stop();
    process.exit(code);
  }
}

main().catch((e: Error) => {
  process.stderr.write(`pgnode: fatal: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
