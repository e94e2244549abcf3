// What the demo tells a person once the migration waits for promotion: the commands to type next.
import path from 'node:path';

export interface NextStepsInput {
  root: string;
  kubeconfig: string;
  /** The kube-local bin directory: its kubectl, not the one on PATH. */
  kubectlDir: string;
  /** Holds the kubectl-cells plugin wrapper. */
  pluginDir: string;
  routerUrl: string;
  tokenFile: string;
  migration: string;
  promotionStep: number;
  sampleCustomer: string;
  logs: { operator: string; router: string };
  targetDatabase: { cell: string; port: number; user: string; database: string };
  exitAtPause: boolean;
  /** With brokers: the gateway's address, where a device sends readings. */
  gatewayUrl?: string;
}

export function nextSteps(input: NextStepsInput): string {
  const rel = (file: string) => path.relative(input.root, file) || '.';
  const m = input.migration;
  const db = input.targetDatabase;
  const lines = [
    'What to type next (in another terminal):',
    '',
    `  export KUBECONFIG=${input.kubeconfig}`,
    `  export PATH=${input.kubectlDir}:${input.pluginDir}:$PATH   # the kubectl of the local build, and the kubectl-cells plugin`,
    `  export CELL_ROUTER_URL=${input.routerUrl}`,
    '',
    '  kubectl get cells,migrations',
    '  kubectl cells status',
    `  kubectl describe migration ${m}`,
    '',
    `Promote the pause (step ${input.promotionStep}) to move the remaining customers:`,
    `  kubectl cells migration promote ${m}`,
    `  kubectl patch migration ${m} --type merge -p '{"spec":{"promotedStep":${input.promotionStep}}}'   # the same, by hand`,
    `  kubectl cells migration watch ${m}`,
    '',
    'Abort instead (every customer already moved goes back to the source, rows written since included):',
    `  kubectl cells migration abort ${m}`,
    `  kubectl patch migration ${m} --type merge -p '{"spec":{"abort":true}}'   # the same, by hand`,
    '',
    'Ask the router where a customer lives (a moved one answers the new cell and a higher epoch):',
    `  curl -s ${input.routerUrl}/v1/routes/${input.sampleCustomer}`,
    `  kubectl cells route ${input.sampleCustomer}`,
    `  curl -s -X PUT ${input.routerUrl}/v1/customers/new-customer -H "Authorization: Bearer $(cat ${input.tokenFile})" \\`,
    `       -H 'content-type: application/json' -d '{"region":"eu-west-1","labels":{"tier":"standard"}}'`,
    '',
    ...(input.gatewayUrl
      ? [
          'Send readings as a device does (the gateway asks the router, produces to the cell\'s broker; its worker writes the rows):',
          `  curl -s -X POST ${input.gatewayUrl}/v1/telemetry/${input.sampleCustomer} -H 'content-type: application/json' -d '[{"id":2000000001,"device":"d-1","value":21.5}]'`,
          '',
        ]
      : []),
    `Look into the ${db.cell} database (trust auth):`,
    `  psql -h 127.0.0.1 -p ${db.port} -U ${db.user} ${db.database} -c 'SELECT customer_id, count(*) FROM readings GROUP BY 1 ORDER BY 2 LIMIT 5'`,
    '',
    `Logs: ${rel(input.logs.operator)} (operator), ${rel(input.logs.router)} (router)`,
    '',
    input.exitAtPause
      ? 'DEMO_EXIT_AT_PAUSE is set: stopping now.'
      : 'The operator, the router and the databases run until you press Ctrl-C here. The local cluster stays up afterwards (npm run cluster:down stops it).',
  ];
  return lines.join('\n');
}
