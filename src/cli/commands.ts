/** The operator CLI's commands and their options (pure data, used by parsing and help). */
import { CommandSpec } from './args';

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'up',
    summary: 'everything from a bare machine to a healthy cluster: Docker engine, swarm, images, secrets, deploy; prints how to connect',
    flags: [
      { name: 'no-build', kind: 'switch', help: 'use the images already built (skip base image and image builds)' },
      { name: 'timeout', kind: 'value', default: '600', help: 'seconds to wait for every service to be healthy' },
      { name: 'token-ttl', kind: 'value', default: '7d', help: 'lifetime of the proxies\' join tokens made by init' },
      { name: 'host', kind: 'value', default: '127.0.0.1', help: 'host name clients use, for the printed connection string' },
      { name: 'file', kind: 'value', help: 'stack file [default: compose/stack.yml]' },
      { name: 'topology', kind: 'value', help: '3 (three data nodes, compose/stack.yml) or 2plus1 (two data nodes + a witness, strict synchronous mode, compose/stack-2plus1.yml) [default: 3]' },
    ],
  },
  {
    name: 'init',
    summary: 'create the cluster\'s secrets (signing key, CA, passwords, proxy join tokens) as Docker secrets, with a local 0600 copy',
    flags: [
      { name: 'force', kind: 'switch', help: 'replace an existing cluster\'s secrets (the stack must be down)' },
      { name: 'token-ttl', kind: 'value', default: '7d', help: 'lifetime of the proxies\' join tokens' },
    ],
  },
  {
    name: 'deploy',
    summary: 'docker stack deploy compose/stack.yml with the cluster\'s verify key (secrets must exist)',
    flags: [
      { name: 'wait', kind: 'switch', help: 'wait until every service is healthy' },
      { name: 'timeout', kind: 'value', default: '600', help: 'seconds for --wait' },
      { name: 'file', kind: 'value', help: 'stack file [default: compose/stack.yml]' },
      { name: 'topology', kind: 'value', help: '3 or 2plus1 (see pgswarm up --help) [default: 3]' },
    ],
  },
  {
    name: 'status',
    summary: 'nodes (role, health, lag, timeline, last decision and reason) and proxies',
    flags: [{ name: 'json', kind: 'switch', help: 'print JSON' }],
  },
  {
    name: 'switchover',
    summary: 'planned primary change: repmgr standby switchover run inside the target node',
    flags: [
      { name: 'to', kind: 'value', help: 'the standby that becomes primary (pgnode1, pgnode2, pgnode3)' },
      { name: 'dry-run', kind: 'switch', help: 'only check that a switchover would work' },
      { name: 'timeout', kind: 'value', default: '120', help: 'seconds' },
    ],
  },
  {
    name: 'token',
    summary: 'join tokens for proxies: create (--name, --ttl, --secret), revoke ID, list',
    subs: ['create', 'revoke', 'list'],
    flags: [
      { name: 'name', kind: 'value', help: 'proxy name the token is for (create)' },
      { name: 'ttl', kind: 'value', default: '1h', help: 'lifetime, e.g. 15m, 12h, 7d (create)' },
      { name: 'secret', kind: 'value', help: 'store the token as this Docker secret instead of printing it (create)' },
      { name: 'reason', kind: 'value', help: 'why (revoke)' },
      { name: 'host', kind: 'value', default: '127.0.0.1', help: 'proxy host to reach the cluster (revoke)' },
    ],
    positionals: { names: '[ID]', min: 0, max: 1 },
  },
  {
    name: 'logs',
    summary: 'logs of the stack\'s services (all, or those named)',
    flags: [
      { name: 'follow', kind: 'switch', help: 'keep following' },
      { name: 'tail', kind: 'value', default: '200', help: 'lines per service' },
    ],
    positionals: { names: '[SERVICE...]', min: 0, max: 10 },
  },
  {
    name: 'down',
    summary: 'remove the stack; keeps the data volumes and secrets unless told otherwise',
    flags: [{ name: 'volumes', kind: 'switch', help: 'also delete the data volumes (all data is lost)' }],
  },
];
