// What every reconciler is given, whatever its kind: the API client, the event recorder, the
// control-plane database and the clock. Each kind's deps add their informers and the rest.
import type { Pool } from 'pg';
import type { NowClock } from '../runtime/clock.js';
import type { EventRecorder } from '../runtime/events.js';
import type { KubeClient } from '../runtime/kube-client.js';

export interface ReconcilerDeps {
  client: KubeClient;
  events: EventRecorder;
  /** The control-plane database: undefined until it answers, or when the operator runs without one. */
  store?: Pool;
  /** The time (tests give a fake one); the system's by default. */
  clock?: NowClock;
}
