// `kubectl cells release status|promote|pause|resume|abort NAME`: the status of a CellRelease for a
// person (per step and per cell), and the merge patches that steer it, decided from the release as
// read (a patch, nothing to do, or a refusal a person can act on). The decisions and the rendering
// are pure; runRelease does the reading and writing.
import { stringify } from 'yaml';
import type { CellRelease } from '../crds/cell-release.js';
import type { Options, ReleaseVerb } from './command-line.js';
import type { CliIo } from './commands.js';
import { carryOut, type Decision } from './decision.js';

export type ReleasePatchDecision = Decision<{ spec: { promotedStep?: number; paused?: boolean; abort?: boolean } }>;

const FINISHED = new Set(['Succeeded', 'Failed', 'Aborted']);

export function releasePatch(verb: Exclude<ReleaseVerb, 'status'>, r: CellRelease): ReleasePatchDecision {
  const name = r.metadata.name ?? '<name>';
  const phase = r.status?.phase;
  if (verb !== 'abort' && phase && FINISHED.has(phase)) return { kind: 'refuse', message: `release ${name} is ${phase}: nothing to ${verb}.` };
  if (verb === 'abort') {
    if (phase === 'Aborted') return { kind: 'noop', message: `release ${name} is already Aborted.` };
    if (r.spec.abort) return { kind: 'noop', message: `release ${name} is already being aborted (spec.abort: true).` };
    return { kind: 'patch', patch: { spec: { abort: true } }, done: `release ${name} aborting: every reached cell goes back to its previous versions, the last first. Follow it with: kubectl cells release status ${name}` };
  }
  if (r.spec.abort) return { kind: 'refuse', message: `release ${name} is being aborted: there is nothing to ${verb}.` };
  if (verb === 'pause') {
    if (r.spec.paused) return { kind: 'noop', message: `release ${name} is already paused (spec.paused: true).` };
    return { kind: 'patch', patch: { spec: { paused: true } }, done: `release ${name} paused: cells being updated finish, none is reached. Resume with: kubectl cells release resume ${name}` };
  }
  if (verb === 'resume') {
    if (!r.spec.paused) return { kind: 'noop', message: `release ${name} is not paused by spec.paused: nothing to resume.` };
    return { kind: 'patch', patch: { spec: { paused: false } }, done: `release ${name} resumed (spec.paused: false).` };
  }
  const step = r.status?.currentStep;
  const waiting = r.status?.conditions?.find((c) => c.type === 'Paused' && c.status === 'True' && (c.reason === 'WaitingForPromotion' || c.reason === 'TimedPause'));
  if (step === undefined || !waiting) {
    return { kind: 'refuse', message: `release ${name} is not waiting at a pause step: it is ${phase ?? 'not started'}${r.status?.message ? ` (${r.status.message})` : ''}.` };
  }
  if ((r.spec.promotedStep ?? -1) >= step) return { kind: 'noop', message: `release ${name} is already promoted past step ${step}; the operator has not acted on it yet.` };
  return { kind: 'patch', patch: { spec: { promotedStep: step } }, done: `release ${name} promoted: the pause at step ${step} ends (spec.promotedStep: ${step}).` };
}

const ago = (since: string | undefined, now: Date): string => {
  if (!since) return '-';
  const s = Math.max(0, Math.round((now.getTime() - new Date(since).getTime()) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
};

/** The release for a person: phase, version, steps, cells, and what it waits for. */
export function renderRelease(r: CellRelease, now: Date): string {
  const s = r.status;
  const lines = [`release ${r.metadata.name}: ${s?.phase ?? 'not started'}, version ${s?.version ?? r.spec.version ?? r.metadata.name}, ${s?.progress ?? '0/?'} cells updated`];
  if (s?.estimatedCompletionTime) lines.push(`estimated end: ${s.estimatedCompletionTime}`);
  for (const st of s?.steps ?? []) lines.push(`  ${st.state === 'Done' ? '✓' : st.state === 'Running' ? '▶' : ' '} step ${st.index}: ${st.step}${st.cells !== undefined ? ` (${st.cells} cells)` : ''}`);
  if (s?.cells?.length) {
    lines.push('  CELL                STATE        SINCE  ANALYSIS');
    for (const c of s.cells) {
      lines.push(`  ${c.name.padEnd(19)} ${c.state.padEnd(12)} ${ago(c.since, now).padStart(5)}  ${c.analysis ? `${c.analysis.result}: ${c.analysis.message ?? ''}` : '-'}${c.message ? `\n    ${c.message}` : ''}`);
    }
  }
  if (s?.message) lines.push(s.message);
  return `${lines.join('\n')}\n`;
}

export async function runRelease(verb: ReleaseVerb, name: string, options: Options, io: CliIo, confirm: (prompt: string) => Promise<string | undefined>): Promise<number> {
  const api = io.api();
  const release = await api.getRelease(name);
  if (verb === 'status') {
    if (options.output === 'json') io.stdout.write(`${JSON.stringify(release, null, 2)}\n`);
    else if (options.output === 'yaml') io.stdout.write(stringify(release));
    else io.stdout.write(renderRelease(release, io.now()));
    return 0;
  }
  const askFirst = async (): Promise<boolean> => {
    io.stderr.write(`Aborting release ${name} puts every cell it reached (${(release.status?.cells ?? []).map((c) => c.name).join(', ') || 'none yet'}) back on its previous versions. This cannot be undone.\n`);
    const answer = await confirm(`Type the release's name (${name}) to abort it, anything else to keep it: `);
    if (answer !== name) io.stderr.write('not aborted.\n');
    return answer === name;
  };
  return carryOut(releasePatch(verb, release), io, (patch) => api.patchRelease(name, patch), verb === 'abort' && !options.yes ? askFirst : undefined);
}
