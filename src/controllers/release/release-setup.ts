// Wires the CellRelease controller: its informer, the Cells' informer, and what wakes a release's
// reconcile (a change to any Cell: its readiness or the release its Deployments carry; a change to
// another release: it may supersede this one, or stop doing so).
import { CELL_RELEASE_RESOURCE, CELL_RESOURCE } from '../../crds/resources.js';
import type { Logger } from '../../log.js';
import { watch } from '../../runtime/controller.js';
import type { Manager } from '../../runtime/manager.js';
import { ReleaseReconciler } from './release-reconciler.js';

export interface ReleaseSetupDeps {
  concurrency: number;
  log: Logger;
}

export function setupReleaseController(manager: Manager, deps: ReleaseSetupDeps): void {
  const cells = manager.informer(CELL_RESOURCE);
  const releases = manager.informer(CELL_RELEASE_RESOURCE);
  const all = () => releases.list().map((r) => r.metadata.name ?? '');
  const reconciler = new ReleaseReconciler({ client: manager.client, releases, cells, events: manager.events, log: deps.log });
  const watches = [watch(cells, all), watch(releases, (r) => all().filter((n) => n !== r.metadata.name))];
  manager.control({ name: 'release', informer: releases, watches, reconcile: (key) => reconciler.reconcile(key) }, deps);
}
