/**
 * What the postgres-side hooks (pgnode-hook, pgnode-validate: run by repmgrd as the run user) may put
 * into the root agent's log through the control socket's `report` verb. Anyone who is the run user
 * can connect to that socket, so a report is untrusted input: only known events, only known fields
 * with their types and lengths, and the agent writes its own message. Pure; docs/security.md.
 */
export const HOOK_EVENTS = ['promote-start', 'follow-start', 'promoted', 'followed', 'promotion-guard'] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

type FieldKind = 'text' | 'short' | 'bool' | 'int' | 'args';
const FIELDS: Record<string, FieldKind> = {
  reason: 'text', output: 'text', detail: 'text', rule: 'short', ok: 'bool', allow: 'bool', exit: 'int', ms: 'int', repmgr: 'args',
};
const MAX_TEXT = 2000;
const MAX_SHORT = 64;
/** A report line longer than this is refused whole. */
export const MAX_REPORT_BYTES = 8192;

export type HookReport = { event: HookEvent } & Record<string, string | number | boolean | null | string[]>;
export type ParsedReport = { ok: true; report: HookReport } | { ok: false; error: string };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
const clean = (s: string, max: number) => s.replace(CONTROL, '?').slice(0, max);

export function parseHookReport(arg: string): ParsedReport {
  if (Buffer.byteLength(arg) > MAX_REPORT_BYTES) return { ok: false, error: `report longer than ${MAX_REPORT_BYTES} bytes` };
  let j: unknown;
  try {
    j = JSON.parse(arg);
  } catch {
    return { ok: false, error: 'report is not JSON' };
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return { ok: false, error: 'report is not a JSON object' };
  const o = j as Record<string, unknown>;
  if (!HOOK_EVENTS.includes(o.event as HookEvent)) return { ok: false, error: `unknown event ${JSON.stringify(String(o.event)).slice(0, 80)}` };
  const out: HookReport = { event: o.event as HookEvent };
  const bad: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (k === 'event') continue;
    const kind = FIELDS[k];
    if (!kind) {
      bad.push(k.slice(0, 40));
      continue;
    }
    if (kind === 'text' && typeof v === 'string') out[k] = clean(v, MAX_TEXT);
    else if (kind === 'short' && typeof v === 'string' && /^[a-z0-9-]{1,64}$/.test(v)) out[k] = clean(v, MAX_SHORT);
    else if (kind === 'bool' && typeof v === 'boolean') out[k] = v;
    else if (kind === 'int' && (v === null || (Number.isSafeInteger(v) && (v as number) >= -1))) out[k] = v as number | null;
    else if (kind === 'args' && Array.isArray(v) && v.length <= 16 && v.every((a) => typeof a === 'string')) out[k] = (v as string[]).map((a) => clean(a, 200));
    else bad.push(k);
  }
  if (bad.length) return { ok: false, error: `fields not allowed or of the wrong type: ${bad.join(', ')}` };
  return { ok: true, report: out };
}

/** The agent's own message for a report (never text chosen by the reporter alone). */
export function reportMessage(r: HookReport): string {
  switch (r.event) {
    case 'promote-start': return `hook: repmgrd asks this node to promote: ${r.reason ?? ''}`;
    case 'follow-start': return `hook: repmgrd asks this node to follow a new primary: ${r.reason ?? ''}`;
    case 'promoted': return `hook: promote ${r.ok ? 'succeeded' : 'failed'} in ${r.ms ?? '?'} ms`;
    case 'followed': return `hook: follow ${r.ok ? 'succeeded' : 'failed'} in ${r.ms ?? '?'} ms`;
    case 'promotion-guard': return `hook: promotion guard ${r.allow ? 'allowed' : 'VETOED'} the promotion (${r.rule ?? '?'}): ${r.reason ?? ''}`;
  }
}
