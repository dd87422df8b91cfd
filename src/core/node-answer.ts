/**
 * What one data node says when the proxy runs its `current-primary` forced
 * command over SSH, and the pure parser of that output.
 *
 * Contract (printed by current-primary):
 *   line 1: `PRIMARY: <name>` or `PRIMARY: none`
 *   line 2: one JSON object (NodeAnswer)
 *   exit 0 = a primary found, 3 = no primary, 2 = error.
 */

/** 'witness': a referee without data (PGSWARM_ROLE=witness); it names a primary but never is one. */
export type NodeRole = 'primary' | 'standby' | 'down' | 'witness';

export interface MemberView {
  name: string;
  reachable: boolean;
  role: string | null;
  timeline: number | null;
  upstream: string | null;
}

export interface NodeAnswer {
  primary: string | null;
  node: string;
  role: NodeRole;
  timeline: number | null;
  lsn: string | null;
  upstream: string | null;
  members: MemberView[];
  reason: string;
  /** The witness the answering node is configured with (PGSWARM_WITNESS), null for none; absent from older nodes. */
  witness?: string | null;
}

/** The outcome of asking one node, as the vote sees it. */
export type AskResult =
  | { kind: 'ok'; answer: NodeAnswer }
  | { kind: 'timeout'; detail?: string }
  | { kind: 'garbage'; detail: string }
  | { kind: 'host-key-rejected'; detail?: string }
  | { kind: 'error'; detail: string };

const ROLES: readonly string[] = ['primary', 'standby', 'down', 'witness'];
const NAME_RE = /^[a-z][a-z0-9_-]{0,62}$/;

function isNullableString(v: unknown): v is string | null {
  return v === null || typeof v === 'string';
}
function isNullableNumber(v: unknown): v is number | null {
  return v === null || (typeof v === 'number' && Number.isFinite(v));
}

/** Validates one decoded JSON value; returns the answer or why it is not one. */
export function validateNodeAnswer(v: unknown): NodeAnswer | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  if (!isNullableString(o.primary) || (o.primary !== null && !NAME_RE.test(o.primary))) return 'bad "primary"';
  if (typeof o.node !== 'string' || !NAME_RE.test(o.node)) return 'bad "node"';
  if (typeof o.role !== 'string' || !ROLES.includes(o.role)) return 'bad "role"';
  if (!isNullableNumber(o.timeline)) return 'bad "timeline"';
  if (!isNullableString(o.lsn)) return 'bad "lsn"';
  if (!isNullableString(o.upstream)) return 'bad "upstream"';
  if (!Array.isArray(o.members)) return 'bad "members"';
  const members: MemberView[] = [];
  for (const m of o.members) {
    if (typeof m !== 'object' || m === null) return 'bad member entry';
    const r = m as Record<string, unknown>;
    if (typeof r.name !== 'string' || typeof r.reachable !== 'boolean') return 'bad member entry';
    members.push({
      name: r.name,
      reachable: r.reachable,
      role: typeof r.role === 'string' ? r.role : null,
      timeline: typeof r.timeline === 'number' ? r.timeline : null,
      upstream: typeof r.upstream === 'string' ? r.upstream : null,
    });
  }
  return {
    primary: o.primary,
    node: o.node,
    role: o.role as NodeRole,
    timeline: o.timeline,
    lsn: o.lsn,
    upstream: o.upstream,
    members,
    reason: typeof o.reason === 'string' ? o.reason.slice(0, 500) : '',
    ...(o.witness === null || (typeof o.witness === 'string' && NAME_RE.test(o.witness)) ? { witness: o.witness } : {}),
  };
}

/**
 * Parses the stdout and exit code of `current-primary` as asked of `asked`.
 * Anything off-contract (wrong first line, bad JSON, lines disagreeing, an
 * answer signed with another node's name, exit code not matching) is garbage.
 */
export function parseNodeAnswer(asked: string, stdout: string, exitCode: number | null): AskResult {
  if (stdout.length > 65536) return { kind: 'garbage', detail: 'answer longer than 64 KiB' };
  const lines = stdout.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (exitCode === 2) return { kind: 'error', detail: `current-primary reported an error: ${(lines[0] ?? '').slice(0, 200)}` };
  if (lines.length < 2) return { kind: 'garbage', detail: `expected 2 lines, got ${lines.length}` };
  const m = /^PRIMARY: ([a-z][a-z0-9_-]{0,62})$/.exec(lines[0].trim());
  if (!m) return { kind: 'garbage', detail: `bad first line ${JSON.stringify(lines[0].slice(0, 80))}` };
  let json: unknown;
  try {
    json = JSON.parse(lines[1]);
  } catch {
    return { kind: 'garbage', detail: 'second line is not JSON' };
  }
  const a = validateNodeAnswer(json);
  if (typeof a === 'string') return { kind: 'garbage', detail: a };
  const first = m[1] === 'none' ? null : m[1];
  if (first !== a.primary) return { kind: 'garbage', detail: `first line names ${m[1]} but JSON says ${a.primary ?? 'none'}` };
  if (a.node !== asked) return { kind: 'garbage', detail: `asked ${asked} but ${a.node} answered` };
  if (exitCode !== null && exitCode !== (a.primary ? 0 : 3)) return { kind: 'garbage', detail: `exit code ${exitCode} does not match the answer` };
  return { kind: 'ok', answer: a };
}
