import type { SettingSpec } from './settings';

/** Settings shared by the small commands that probe the members (current-primary, pgnode-validate). */
export const PROBE_SETTINGS: readonly SettingSpec[] = [
  { name: 'PGSWARM_NODE_NAME', kind: 'string', required: true, help: 'this node' },
  { name: 'PGSWARM_PEERS', kind: 'list', required: true, help: 'every data node name@host:port[:sshport]' },
  { name: 'PGSWARM_REPMGR_USER', kind: 'string', default: 'repmgr', help: 'role used to probe members' },
  { name: 'PGSWARM_REPMGR_PASSWORD', kind: 'secret', required: true, help: 'its password' },
  { name: 'PGSWARM_CA_CERT_FILE', kind: 'path', required: true, help: 'cluster CA certificate' },
  { name: 'PGSWARM_CONNECT_TIMEOUT_SECS', kind: 'int', default: '2', help: 'connect timeout of a probe, seconds' },
];
