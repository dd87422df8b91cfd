import { conninfo } from './render-postgres';
import type { Member } from './node-config';

export interface RepmgrConfInput {
  nodeId: number;
  node: Member;
  replUser: string;
  pgdata: string;
  pgBinDir: string;
  confDir: string;
  runDir: string;
  caCert: string;
  /** libpq passfile (same path on every node), so repmgr run over SSH finds the password too. */
  passfile?: string;
  connectTimeoutSecs: number;
  monitorIntervalSecs: number;
  reconnectAttempts: number;
  reconnectIntervalSecs: number;
  /** Our own commands (logged promotion / follow / service control). */
  promoteCommand: string;
  followCommand: string;
  serviceCommand: (verb: 'start' | 'stop' | 'restart' | 'reload') => string;
  sshOptions: string;
  priority?: number;
  /** Run by repmgrd on the elected node before it promotes; non-zero vetoes (docs/zero-loss.md). */
  failoverValidationCommand?: string;
}

/** The libpq conninfo others use to reach this node: TLS with full verification, never plaintext. */
export function nodeConninfo(m: Member, user: string, caCert: string, connectTimeoutSecs: number, passfile?: string, dbname = 'repmgr'): string {
  return conninfo({ host: m.host, port: m.port, user, dbname, sslmode: 'verify-full', sslrootcert: caCert, connect_timeout: connectTimeoutSecs, ...(passfile ? { passfile } : {}) });
}

export function renderRepmgrConf(i: RepmgrConfInput): string {
  const q = (v: string) => `'${v.replace(/'/g, "\\'")}'`;
  const lines: [string, string | number | boolean][] = [
    ['node_id', i.nodeId],
    ['node_name', i.node.name],
    ['conninfo', nodeConninfo(i.node, i.replUser, i.caCert, i.connectTimeoutSecs, i.passfile)],
    ['data_directory', i.pgdata],
    ['config_directory', i.confDir],
    ['pg_bindir', i.pgBinDir],
    ['replication_user', i.replUser],
    ['use_replication_slots', true],
    ['location', 'default'],
    ['priority', i.priority ?? 100],
    // Automatic failover, tuned for seconds (field notes: detection is the whole cost).
    ['failover', 'automatic'],
    ['promote_command', i.promoteCommand],
    ['follow_command', i.followCommand],
    ['monitor_interval_secs', i.monitorIntervalSecs],
    ['reconnect_attempts', i.reconnectAttempts],
    ['reconnect_interval', i.reconnectIntervalSecs],
    // 'ping' costs a new connection (a forked backend and a TLS handshake) per check and node, the
    // largest remaining idle cost; 'query' (SELECT 1 on the open connection) was tried and never
    // noticed a frozen (SIGSTOPped) primary: integration test zero-loss (c) failed with it.
    ['connection_check_type', 'ping'],
    // Field notes pitfall 2: consensus with < 3 attempts gets elections stuck; the proxies' vote
    // (a majority of all members) is what keeps writes away from a cut-off primary.
    ['primary_visibility_consensus', false],
    // Field notes pitfall 3: an unconditional 5 s sleep after partitions.
    ['standby_disconnect_on_failover', false],
    ...(i.failoverValidationCommand
      ? ([
          ['failover_validation_command', `${i.failoverValidationCommand} %n %a %v %t`],
          // After a veto, elect again after 2 s, not repmgr's default 15 s.
          ['election_rerun_interval', 2],
        ] as [string, string | number][])
      : []),
    ['promote_check_interval', 1],
    ['promote_check_timeout', 30],
    ['primary_follow_timeout', 30],
    ['standby_follow_timeout', 15],
    ['standby_reconnect_timeout', 60],
    ['node_rejoin_timeout', 60],
    ['degraded_monitoring_timeout', -1],
    ['repmgrd_pid_file', `${i.runDir}/repmgrd.pid`],
    ['service_start_command', i.serviceCommand('start')],
    ['service_stop_command', i.serviceCommand('stop')],
    ['service_restart_command', i.serviceCommand('restart')],
    ['service_reload_command', i.serviceCommand('reload')],
    ['ssh_options', i.sshOptions],
    ['log_level', 'INFO'],
    ['log_status_interval', 60],
  ];
  return (
    '# Rendered by pgswarm; edits are overwritten at the next start.\n' +
    lines.map(([k, v]) => `${k}=${typeof v === 'string' ? q(v) : typeof v === 'boolean' ? (v ? 'yes' : 'no') : v}`).join('\n') +
    '\n'
  );
}
