// The command line of `kubectl cells`: which command, its argument and flags, and the help of
// each command. Pure: argv and the environment in, a command or a usage error out.
import { parseArgs } from 'node:util';
import { customerIdProblem } from '../store/customer-id.js';
import { parseTimeout } from './status-wait.js';

export const MIGRATION_VERBS = ['watch', 'promote', 'pause', 'resume', 'abort', 'retry'] as const;
export type MigrationVerb = (typeof MIGRATION_VERBS)[number];

export const CELL_VERBS = ['get', 'cordon', 'uncordon', 'drain'] as const;

export const RELEASE_VERBS = ['status', 'promote', 'pause', 'resume', 'abort'] as const;
export type ReleaseVerb = (typeof RELEASE_VERBS)[number];
export type CellVerb = (typeof CELL_VERBS)[number];

export const REBALANCE_VERBS = ['status', 'approve'] as const;
export type RebalanceVerb = (typeof REBALANCE_VERBS)[number];

export type Command =
  | { name: 'status' }
  | { name: 'rebalance'; verb: RebalanceVerb; policy?: string }
  | { name: 'cell'; verb: CellVerb; cell: string }
  | { name: 'version' }
  | { name: 'completion'; shell: 'bash' | 'zsh' }
  | { name: 'migration'; verb: MigrationVerb; migration: string }
  | { name: 'release'; verb: ReleaseVerb; release: string }
  | { name: 'route'; customer: string };

export interface Options {
  kubeconfig?: string;
  context?: string;
  routerUrl?: string;
  /** migration abort: do not ask. */
  yes: boolean;
  /** migration watch: seconds between two reads. */
  intervalSeconds: number;
  /** migration retry: only these customers. */
  customers?: string[];
  /** status, get, version, drain: print the objects as JSON or YAML instead of text. */
  output?: 'json' | 'yaml';
  /** drain: the cell that receives the customers. */
  to?: string;
  /** status: wait (through the API server's watch) until everything is settled, at most this long. */
  timeoutSeconds?: number;
  /** get: keep the tree live (through the API server's watch) until Ctrl-C. */
  watch?: boolean;
  /** rebalance approve: the proposal id expected (refused when the policy proposes another). */
  proposal?: string;
}

export type ParsedCommandLine =
  | { kind: 'run'; command: Command; options: Options }
  /** --help: print `text` and exit 0. */
  | { kind: 'help'; text: string }
  /** Wrong usage: print `message` and `help`, exit 2. */
  | { kind: 'usage'; message: string; help: string };

const KUBE_FLAGS = `flags:
  --kubeconfig PATH   kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)
  --context NAME      kubeconfig context to use (default: its current context)
  -h, --help          this help`;

const HELP = {
  top: `kubectl cells: look at cells, follow and steer migrations, ask the router where a customer lives.

usage:
  kubectl cells status                          cells with capacity and readiness, open migrations
  kubectl cells migration watch NAME            live progress until it ends or waits for you
  kubectl cells migration promote NAME          end the pause the migration waits at
  kubectl cells migration pause NAME            hold it: moves in flight finish, none start
  kubectl cells migration resume NAME           undo pause
  kubectl cells migration abort NAME [--yes]    move everyone back (cannot be undone)
  kubectl cells migration retry NAME [--customer ID]...  move the failed customers again
  kubectl cells release status|promote|pause|resume|abort NAME  follow and steer a CellRelease
  kubectl cells route CUSTOMER                  where the router sends a customer
  kubectl cells get CELL [--watch] [-o json|yaml]  a cell, its children and their health (live with --watch)
  kubectl cells cordon CELL                     no new customers (spec.state: Cordoned)
  kubectl cells uncordon CELL                   new customers again (spec.state: Active)
  kubectl cells drain CELL --to TARGET          a Migration of every customer, canary first
  kubectl cells rebalance status [POLICY]       rebalance policies, their skew and proposal
  kubectl cells rebalance approve POLICY        approve the policy's current proposal
  kubectl cells version [-o json|yaml]          the plugin's version
  kubectl cells completion bash|zsh             shell completion: source <(kubectl cells completion bash)

Each command has its --help. Exit codes: 0 ok, 1 error or refused, 2 usage.`,
  status: `usage: kubectl cells status [--timeout DURATION] [-o json|yaml] [flags]

Lists every Cell with its region, state, phase, readiness (the Ready condition, with its reason
when not Ready) and customers placed against spec.capacity.maxCustomers as a bar, then the
migrations that are not Succeeded or Aborted.

With --timeout, for scripts: waits (following the API server's watch) until every Cell is Ready and
no Migration is Pending or Progressing, then prints the status and exits 0; exits 1 at the
timeout, saying what it still waits for.

${KUBE_FLAGS}
  -o, --output FORMAT json or yaml
  --timeout DURATION  wait up to DURATION (90s, 5m, 1h) for everything to settle`,
  watch: `usage: kubectl cells migration watch NAME [flags]

Reads the Migration every second and shows its phase, step, a progress bar, the counts of
customers, rows copied and the ETA: redrawn in place on a terminal, one line per change when the
output is not a terminal. Ends when the migration Succeeded (exit 0), Failed or was Aborted
(exit 1), or when it waits for a person to promote it (exit 0, with the command to type).

${KUBE_FLAGS}
  --interval SECONDS  time between two reads (default 1)`,
  promote: `usage: kubectl cells migration promote NAME [flags]

Ends the pause the migration waits at: sets spec.promotedStep to status.currentStep. Refused
(exit 1) when the migration is not waiting at a pause, or held by failed moves.

${KUBE_FLAGS}`,
  pause: `usage: kubectl cells migration pause NAME [flags]

Sets spec.paused: true. Customers already moving finish their move; no new one starts.

${KUBE_FLAGS}`,
  resume: `usage: kubectl cells migration resume NAME [flags]

Sets spec.paused: false. A pause step of spec.steps is ended by promote, not by resume.

${KUBE_FLAGS}`,
  abort: `usage: kubectl cells migration abort NAME [--yes] [flags]

Sets spec.abort: true: the migration stops and every customer already moved goes back to the
source cell. This cannot be undone. Asks for the migration's name to confirm, unless --yes.

${KUBE_FLAGS}
  -y, --yes           do not ask for confirmation`,
  retry: `usage: kubectl cells migration retry NAME [--customer ID]... [flags]

Sets spec.retry.failedBefore to now (and spec.retry.customers to the --customer ids): every
customer whose move failed before now moves again, once, from the start. Git can do the same by
committing spec.retry. Refused (exit 1) when no customer failed or the migration is aborted.

${KUBE_FLAGS}
  --customer ID       only this customer (repeatable)`,
  get: `usage: kubectl cells get CELL [--watch] [-o json|yaml] [flags]

Shows the Cell (its phase and readiness with the reason) and a tree of every child the operator
keeps for it (namespace, network policies, Secret, Kafka and its pools, topics and users, database,
workloads), each with its health: Healthy, Progressing (ready 1/3, waiting for Strimzi), Degraded
(Strimzi's reason) or Missing; then the migrations from or to it. -o json|yaml prints the Cell object.

With --watch the tree stays on screen and changes as the children do (the API server's watch),
until Ctrl-C; without a terminal it prints the tree again on every change.

${KUBE_FLAGS}
  -w, --watch         keep the tree live
  -o, --output FORMAT json or yaml`,
  cordon: `usage: kubectl cells cordon CELL [flags]

Sets spec.state: Cordoned: the cell keeps its customers and receives no new ones. If Git (Argo CD)
manages the Cell, commit the same or the next sync lifts it.

${KUBE_FLAGS}`,
  uncordon: `usage: kubectl cells uncordon CELL [flags]

Sets spec.state: Active. A drain's cordon is lifted by aborting or deleting its Migration instead.

${KUBE_FLAGS}`,
  drain: `usage: kubectl cells drain CELL --to TARGET [-o json|yaml] [flags]

Creates the Migration drain-CELL of every customer of CELL into TARGET (same region), canary first:
move 1, pause 10m, move 10%, pause until promoted, move 100%, small customers in groups of up to
20 (spec.batchSize: 20). The operator cordons CELL while it drains. Follow it with kubectl cells
migration watch drain-CELL.

${KUBE_FLAGS}
  --to TARGET         the cell that receives the customers
  -o, --output FORMAT print the Migration created as json or yaml`,
  'rebalance-status': `usage: kubectl cells rebalance status [POLICY] [-o json|yaml] [flags]

Lists the CellRebalancePolicies: scope, metric, phase, the skew now and after the proposal, the
proposal's id and what each waits for. With one POLICY, also its proposal move by move (customer,
from, to, size, why) and the command that approves it.

${KUBE_FLAGS}
  -o, --output FORMAT json or yaml`,
  'rebalance-approve': `usage: kubectl cells rebalance approve POLICY [--proposal ID] [flags]

Sets spec.approve to the id of the policy's current proposal (status.proposal.id): the operator
then creates its canary Migrations. With --proposal, refused (exit 1) unless that is the current
proposal. Git can do the same by committing spec.approve.

${KUBE_FLAGS}
  --proposal ID       approve only if this is the current proposal`,
  release: `usage: kubectl cells release status|promote|pause|resume|abort NAME [--yes] [-o json|yaml] [flags]

status: the release's phase, step, and each cell it reached (state, since, analysis), and why it
waits. promote: end the pause it waits at (spec.promotedStep: status.currentStep). pause / resume:
spec.paused (cells being updated finish, none is reached). abort: spec.abort: every reached cell
goes back to its previous versions, the last first; cannot be undone; asks for the release's name
unless --yes. In Git, commit the same fields.

${KUBE_FLAGS}`,
  version: `usage: kubectl cells version [-o json|yaml]

Prints the plugin's version.`,
  completion: `usage: kubectl cells completion bash|zsh

Prints a shell completion script: source <(kubectl cells completion bash), or put it in your
shell's completion directory.`,
  route: `usage: kubectl cells route CUSTOMER [--router-url URL]

Asks the router (GET /v1/routes/CUSTOMER) which cell serves the customer: its cell, region,
state, epoch and the cell's endpoints. A customer being moved is Fenced (the router answers 503
until the cut-over). Exit 1 when the customer is unknown or the router cannot be reached.

flags:
  --router-url URL    the router (default: $CELL_ROUTER_URL), e.g. http://127.0.0.1:8090 after
                      kubectl -n cell-operator port-forward svc/cell-operator-router 8090:8090
  -h, --help          this help`,
} as const;

type HelpTopic = keyof typeof HELP;

const FLAGS_OF: Record<HelpTopic, readonly string[]> = {
  top: [],
  status: ['kubeconfig', 'context', 'output', 'timeout'],
  get: ['kubeconfig', 'context', 'output', 'watch'],
  cordon: ['kubeconfig', 'context'],
  uncordon: ['kubeconfig', 'context'],
  drain: ['kubeconfig', 'context', 'output', 'to'],
  version: ['output'],
  'rebalance-status': ['kubeconfig', 'context', 'output'],
  'rebalance-approve': ['kubeconfig', 'context', 'proposal'],
  completion: [],
  watch: ['kubeconfig', 'context', 'interval'],
  promote: ['kubeconfig', 'context'],
  pause: ['kubeconfig', 'context'],
  resume: ['kubeconfig', 'context'],
  abort: ['kubeconfig', 'context', 'yes'],
  retry: ['kubeconfig', 'context', 'customer'],
  route: ['router-url'],
  release: ['kubeconfig', 'context', 'yes', 'output'],
};

export function helpText(topic: HelpTopic = 'top'): string {
  return HELP[topic];
}

export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ParsedCommandLine {
  let values: Record<string, string | boolean | string[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        'router-url': { type: 'string' },
        interval: { type: 'string' },
        yes: { type: 'boolean', short: 'y' },
        customer: { type: 'string', multiple: true },
        output: { type: 'string', short: 'o' },
        to: { type: 'string' },
        timeout: { type: 'string' },
        watch: { type: 'boolean', short: 'w' },
        proposal: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    return usage((err as Error).message, topicOf(argv.filter((a) => !a.startsWith('-'))));
  }
  const topic = topicOf(positionals);
  if (values.help) return { kind: 'help', text: HELP[topic] };

  const [first, second, third, ...extra] = positionals;
  let command: Command;
  if (first === undefined) return usage('no command given', 'top');
  if (first === 'help') return { kind: 'help', text: HELP[topicOf(positionals.slice(1))] };
  if (first === 'status') {
    if (second !== undefined) return usage(`status takes no argument (got ${JSON.stringify(second)})`, 'status');
    command = { name: 'status' };
  } else if (first === 'migration' || first === 'migrations' || first === 'mig') {
    if (second === undefined) return usage('migration needs a verb: watch, promote, pause, resume, abort or retry', 'top');
    if (!(MIGRATION_VERBS as readonly string[]).includes(second)) {
      return usage(`unknown migration verb ${JSON.stringify(second)}: use watch, promote, pause, resume, abort or retry`, 'top');
    }
    const verb = second as MigrationVerb;
    if (third === undefined || third === '') return usage(`migration ${verb} needs the name of a Migration`, verb);
    if (extra.length > 0) return usage(`unexpected argument ${JSON.stringify(extra[0])}`, verb);
    command = { name: 'migration', verb, migration: third };
  } else if (first === 'release' || first === 'releases' || first === 'cellrelease') {
    if (second === undefined || !(RELEASE_VERBS as readonly string[]).includes(second)) {
      return usage(`release needs a verb: ${RELEASE_VERBS.join(', ')}${second ? ` (got ${JSON.stringify(second)})` : ''}`, 'release');
    }
    if (third === undefined || third === '') return usage(`release ${second} needs the name of a CellRelease`, 'release');
    if (extra.length > 0) return usage(`unexpected argument ${JSON.stringify(extra[0])}`, 'release');
    command = { name: 'release', verb: second as ReleaseVerb, release: third };
  } else if ((CELL_VERBS as readonly string[]).includes(first)) {
    const verb = first as CellVerb;
    if (second === undefined || second === '') return usage(`${verb} needs the name of a Cell`, verb);
    if (third !== undefined) return usage(`unexpected argument ${JSON.stringify(third)}`, verb);
    if (verb === 'drain' && typeof values.to !== 'string') return usage('drain needs --to TARGET: the cell that receives the customers', 'drain');
    command = { name: 'cell', verb, cell: second };
  } else if (first === 'rebalance') {
    if (second !== 'status' && second !== 'approve') return usage('rebalance needs a verb: status or approve', 'top');
    if (second === 'approve' && !third) return usage('rebalance approve needs the name of a CellRebalancePolicy', 'rebalance-approve');
    if (extra.length > 0) return usage(`unexpected argument ${JSON.stringify(extra[0])}`, `rebalance-${second}`);
    command = { name: 'rebalance', verb: second, ...(third ? { policy: third } : {}) };
  } else if (first === 'version') {
    if (second !== undefined) return usage(`version takes no argument (got ${JSON.stringify(second)})`, 'version');
    command = { name: 'version' };
  } else if (first === 'completion') {
    if (second !== 'bash' && second !== 'zsh') return usage(`completion needs a shell: bash or zsh${second ? ` (got ${JSON.stringify(second)})` : ''}`, 'completion');
    command = { name: 'completion', shell: second };
  } else if (first === 'route') {
    if (second === undefined) return usage('route needs a customer id', 'route');
    if (third !== undefined) return usage(`unexpected argument ${JSON.stringify(third)}`, 'route');
    const problem = customerIdProblem(second);
    if (problem) return usage(`${JSON.stringify(second)} is not a customer id: ${problem}`, 'route');
    command = { name: 'route', customer: second };
  } else {
    return usage(`unknown command ${JSON.stringify(first)}`, 'top');
  }

  const customers = Array.isArray(values.customer) ? values.customer : undefined;
  for (const id of customers ?? []) {
    const problem = customerIdProblem(id);
    if (problem) return usage(`--customer ${JSON.stringify(id)} is not a customer id: ${problem}`, topic);
  }

  for (const flag of ['kubeconfig', 'context', 'router-url', 'interval', 'yes', 'customer', 'output', 'to', 'timeout', 'watch', 'proposal']) {
    if (values[flag] !== undefined && !FLAGS_OF[topic].includes(flag)) return usage(`--${flag} does not apply to this command`, topic);
  }

  let timeoutSeconds: number | undefined;
  if (typeof values.timeout === 'string') {
    timeoutSeconds = parseTimeout(values.timeout);
    if (timeoutSeconds === undefined) return usage(`--timeout must be a duration such as 90s, 5m or 1h (got ${JSON.stringify(values.timeout)})`, topic);
  }
  const output = values.output;
  if (output !== undefined && output !== 'json' && output !== 'yaml') return usage(`-o/--output must be json or yaml (got ${JSON.stringify(output)})`, topic);
  if (output !== undefined && values.watch === true) return usage('--watch draws the tree; it does not go with -o', topic);

  let intervalSeconds = 1;
  if (typeof values.interval === 'string') {
    intervalSeconds = Number(values.interval);
    if (!Number.isFinite(intervalSeconds) || intervalSeconds < 0.1 || intervalSeconds > 3600) {
      return usage('--interval must be a number of seconds from 0.1 to 3600', topic);
    }
  }

  let routerUrl: string | undefined;
  if (command.name === 'route') {
    const raw = typeof values['router-url'] === 'string' ? values['router-url'] : env.CELL_ROUTER_URL || undefined;
    if (!raw) return usage('where is the router? Pass --router-url URL or set CELL_ROUTER_URL', 'route');
    const problem = urlProblem(raw);
    if (problem) return usage(`--router-url (or CELL_ROUTER_URL) ${JSON.stringify(raw)} ${problem}`, 'route');
    routerUrl = raw.replace(/\/+$/, '');
  }

  return {
    kind: 'run',
    command,
    options: {
      ...(typeof values.kubeconfig === 'string' ? { kubeconfig: values.kubeconfig } : {}),
      ...(typeof values.context === 'string' ? { context: values.context } : {}),
      ...(routerUrl ? { routerUrl } : {}),
      yes: values.yes === true,
      intervalSeconds,
      ...(customers ? { customers: [...new Set(customers)] } : {}),
      ...(output ? { output } : {}),
      ...(typeof values.to === 'string' ? { to: values.to } : {}),
      ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
      ...(values.watch === true ? { watch: true } : {}),
      ...(typeof values.proposal === 'string' ? { proposal: values.proposal } : {}),
    },
  };
}

function urlProblem(raw: string): string | undefined {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : 'must be an http:// or https:// URL';
  } catch {
    return 'is not a URL';
  }
}

/** The help that fits the words given so far: `migration abort` → abort's. */
function topicOf(positionals: readonly string[]): HelpTopic {
  const [first, second] = positionals;
  if (first === 'status' || first === 'route' || first === 'version' || first === 'completion') return first;
  if (first === 'rebalance' && (second === 'status' || second === 'approve')) return `rebalance-${second}`;
  if ((CELL_VERBS as readonly string[]).includes(first ?? '')) return first as CellVerb;
  if (first === 'release' || first === 'releases' || first === 'cellrelease') return 'release';
  if ((first === 'migration' || first === 'migrations' || first === 'mig') && (MIGRATION_VERBS as readonly string[]).includes(second ?? '')) {
    return second as MigrationVerb;
  }
  return 'top';
}

function usage(message: string, topic: HelpTopic): ParsedCommandLine {
  return { kind: 'usage', message, help: HELP[topic] };
}
