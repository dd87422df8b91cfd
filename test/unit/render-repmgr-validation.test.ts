import t from 'tap';
import { renderRepmgrConf, RepmgrConfInput } from '../../src/core/render-repmgr';

const input: RepmgrConfInput = {
  nodeId: 1, node: { name: 'n1', host: 'n1', port: 5432, sshPort: 22 }, replUser: 'repmgr', pgdata: '/v/data', pgBinDir: '/bin', confDir: '/v/conf', runDir: '/v/run', caCert: '/ca.crt',
  connectTimeoutSecs: 2, monitorIntervalSecs: 1, reconnectAttempts: 2, reconnectIntervalSecs: 1,
  promoteCommand: '/hook promote', followCommand: '/hook follow %n', serviceCommand: (v) => `/ctl ${v}`, sshOptions: '',
};

t.test('with a validation command: repmgrd asks it before promoting, and re-elects after 2 s on a veto', async (t) => {
  const r = renderRepmgrConf({ ...input, failoverValidationCommand: '/node /v/pgnode-validate.js --config /v/conf/validate.json' });
  t.match(r, /^failover_validation_command='\/node \/v\/pgnode-validate.js --config \/v\/conf\/validate.json %n %a %v %t'$/m);
  t.match(r, /^election_rerun_interval=2$/m);
});

t.test('without one: neither line', async (t) => {
  const r = renderRepmgrConf(input);
  t.notMatch(r, /failover_validation_command/);
  t.notMatch(r, /election_rerun_interval/);
});
