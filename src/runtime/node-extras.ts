import type { NodeContext } from './node-context';
import type { NodeExtras } from './node-agent';

/** Later layers (SSH identity, registry key sync) hook in here. */
export function nodeExtras(_ctx: NodeContext): NodeExtras {
  return {};
}
