// `kubectl cells route CUSTOMER`: the router's answer to GET /v1/routes/{customer} (docs/router.md)
// said plainly: where the customer lives, that it is moving (503 Fenced), unknown (404), or why
// there is no answer.

export interface RouterAnswer {
  status: number;
  /** The Retry-After header, when the router sent one. */
  retryAfter?: string;
  /** The JSON body, or the raw text when it was not JSON. */
  body: unknown;
}

export interface RenderedAnswer {
  /** 0: the customer's route (Active, or Fenced while it moves); 1: no route. */
  exitCode: 0 | 1;
  stdout: string[];
  stderr: string[];
}

interface RouteBody {
  customer?: string;
  cell?: string | null;
  region?: string | null;
  epoch?: number;
  state?: string;
  version?: number;
  endpoints?: Record<string, string>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function routeLines(customer: string, route: RouteBody): string[] {
  const endpoints = Object.entries(route.endpoints ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const width = Math.max(0, ...endpoints.map(([k]) => k.length));
  return [
    `customer   ${route.customer ?? customer}`,
    `cell       ${route.cell ?? '-'}`,
    `region     ${route.region ?? '-'}`,
    `state      ${route.state ?? '-'}`,
    `epoch      ${route.epoch ?? '-'}`,
    ...(endpoints.length === 0 ? ['endpoints  -'] : ['endpoints', ...endpoints.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)]),
  ];
}

function errorText(body: unknown): string {
  if (isObject(body)) return [body.error, body.message].filter((x) => typeof x === 'string' && x).join(': ');
  return typeof body === 'string' ? body.trim().slice(0, 300) : '';
}

export function renderRouteAnswer(customer: string, answer: RouterAnswer): RenderedAnswer {
  const body = answer.body;
  const retry = answer.retryAfter ? ` in ${answer.retryAfter}s` : '';
  if (answer.status === 200 && isObject(body)) return { exitCode: 0, stdout: routeLines(customer, body as RouteBody), stderr: [] };
  if (answer.status === 503 && isObject(body) && body.state === 'Fenced') {
    const route = body as RouteBody;
    return {
      exitCode: 0,
      stdout: [
        ...routeLines(customer, route),
        '',
        `${customer} is being moved to another cell (Fenced): the router answers 503 for it until the cut-over; retry${retry}.`,
        // The fenced answer names no cell (nothing a gateway could keep writing with).
        'Until then the cell databases refuse its writes (SQLSTATE ZF001); ask again after the cut-over for its cell and new epoch.',
      ],
      stderr: [],
    };
  }
  if (answer.status === 404) {
    return { exitCode: 1, stdout: [], stderr: [`customer ${customer} is not placed: the router does not know it (404 ${errorText(body) || 'NotFound'}).`] };
  }
  if (answer.status === 400) {
    return { exitCode: 1, stdout: [], stderr: [`the router refused ${JSON.stringify(customer)} as a customer id (400 ${errorText(body)}).`] };
  }
  if (answer.status === 503) {
    return { exitCode: 1, stdout: [], stderr: [`the router cannot answer yet (503 ${errorText(body) || 'Service Unavailable'}); retry${retry}.`] };
  }
  return { exitCode: 1, stdout: [], stderr: [`the router answered ${answer.status}${errorText(body) ? ` ${errorText(body)}` : ''}.`] };
}

/** The router could not be reached at all: say where it was looked for and how to reach one. */
export function renderRouterUnreachable(url: string, error: unknown): string[] {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  const reason = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  return [
    `cannot reach the router at ${url}: ${reason}.`,
    'Is it running? For the router of a Helm install, forward its port and point the plugin at it:',
    '  kubectl -n cell-operator port-forward svc/cell-operator-router 8090:8090 &',
    '  kubectl cells route <customer> --router-url http://127.0.0.1:8090   (or export CELL_ROUTER_URL)',
  ];
}
