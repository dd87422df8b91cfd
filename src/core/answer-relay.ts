/**
 * The proxies' forced command (docs/architecture.md, "Probing model"): a small Perl relay
 * (perl-base is part of every Debian system) that connects to the node agent's answer socket
 * and copies what the agent says. Rendered here, pure: content in, content out.
 *
 * - With SSH_ORIGINAL_COMMAND exactly `current-primary --follow` it streams: the agent's
 *   current answer (two lines: `PRIMARY: <name|none>` and a JSON line) at once, a new answer
 *   whenever it changes, and `HEARTBEAT` after every other answer round (twice a second).
 *   One long-lived SSH session per proxy and node replaces an exec per ask.
 * - Anything else the caller sends is ignored: it prints one answer and exits 0 (a primary),
 *   3 (none) — the one-shot contract of `current-primary`.
 * - One-shot with no agent, or no answer within 5 s: a well-formed "none" answer, exit 3.
 *   A stream prints only what the agent sends and always ends with exit 1 (no agent, agent
 *   gone, ten silent seconds): the proxy counts it as an error and reconnects.
 * The answer is read from the socket once per print, so its exit code always matches it.
 */
export const FOLLOW_REQUEST = 'current-primary --follow';
export const HEARTBEAT_LINE = 'HEARTBEAT';

const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;
const NAME_RE = /^[a-z][a-z0-9_-]{0,62}$/;

function noneAnswer(node: string, reason: string): string {
  return JSON.stringify({ primary: null, node, role: 'down', timeline: null, lsn: null, upstream: null, members: [], reason });
}

export function renderAnswerRelay(socketPath: string, node: string): string {
  if (!SAFE_PATH.test(socketPath)) throw new Error('renderAnswerRelay: socket path must be a plain absolute path');
  if (!NAME_RE.test(node)) throw new Error('renderAnswerRelay: bad node name');
  const noAgent = noneAnswer(node, 'the node agent does not answer on its socket');
  const slow = noneAnswer(node, 'the node agent gave no answer within 5 s');
  return `#!/usr/bin/perl
# Rendered by pgswarm: the forced command of proxy keys. Relays the node agent's answers;
# reads nothing from the caller but the exact request "${FOLLOW_REQUEST}".
use strict;
use warnings;
use IO::Socket::UNIX;
$| = 1;
$SIG{PIPE} = sub { exit 0 };
my $follow = defined $ENV{SSH_ORIGINAL_COMMAND} && $ENV{SSH_ORIGINAL_COMMAND} eq '${FOLLOW_REQUEST}';
sub none { print "PRIMARY: none\\n", $_[0], "\\n"; exit 3; }
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => '${socketPath}');
if ($follow) {
  # A stream says nothing it does not get from the agent, and always ends with exit 1
  # (the proxy reconnects); the agent writes a line about every second.
  exit 1 unless $s;
  $SIG{ALRM} = sub { exit 1 };
  while (1) {
    alarm 10;
    my $l = <$s>;
    last unless defined $l;
    print $l;
  }
  exit 1;
}
none('${noAgent}') unless $s;
$SIG{ALRM} = sub { none('${slow}') };
alarm 5;
while (my $l = <$s>) {
  next unless $l =~ /^PRIMARY: /;
  my $j = <$s>;
  last unless defined $j;
  print $l, $j;
  exit($l eq "PRIMARY: none\\n" ? 3 : 0);
}
none('${noAgent}');
`;
}
