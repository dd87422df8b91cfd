/** pgswarm down: removes the stack; keeps volumes (the data) unless --volumes, and always keeps the secrets. */
import { CliContext, CliError, sleep } from './context';
import { runInherit } from './deploy';

export async function runDown(ctx: CliContext): Promise<void> {
  await ctx.docker.requireSwarmManager();
  const services = await ctx.docker.stackServices(ctx.stack);
  if (services.length) {
    ctx.err(`[down] docker stack rm ${ctx.stack}`);
    await runInherit('docker', ['stack', 'rm', ctx.stack]);
  } else ctx.err(`[down] stack ${ctx.stack} is not deployed`);
  // Wait for the containers to go: volumes and the network are busy until then.
  const deadline = Date.now() + 90000;
  for (;;) {
    const left = await ctx.docker.stackContainers(ctx.stack);
    if (left.length === 0) break;
    if (Date.now() > deadline) throw new CliError(`[down] ${left.length} container(s) of ${ctx.stack} are still there after 90 s`);
    await sleep(1000);
  }
  if (ctx.flags.volumes === true) {
    for (const v of await ctx.docker.stackVolumes(ctx.stack)) {
      // A volume stays "in use" for a moment after its container is gone.
      for (let i = 0; ; i++) {
        try {
          await ctx.docker.removeVolume(v);
          break;
        } catch (e) {
          if (i >= 20) throw new CliError(`[down] cannot remove volume ${v}: ${(e as Error).message}`);
          await sleep(500);
        }
      }
      ctx.err(`[down] removed volume ${v}`);
    }
  } else ctx.err('[down] volumes kept (data survives; pgswarm down --volumes deletes them)');
}
