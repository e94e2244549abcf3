// Compares RBAC rules with the requests a client made (from the API server's audit log): which
// requests no rule allows, which were refused, and which grants no request used. Pure: the e2e
// test rbac-audit.test.ts feeds it the audit log of a whole e2e run and the rules of rules.ts.
import type { ExplainedRule } from './rules.js';

/** One resource request, as an audit event's verb and objectRef tell it. */
export interface ResourceRequest {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** The response's HTTP status code. */
  code?: number;
}

/** Rules bound cluster-wide (a ClusterRole), or in one namespace (a Role). */
export interface Grant {
  role: string;
  namespace?: string;
  rules: readonly ExplainedRule[];
}

/** A grant a run need not exercise, with the reason a person can check. */
export interface UnusedAllowed {
  grant: string;
  why: string;
}

export interface RbacComparison {
  /** Requests that no rule allows (the API server refused them, or will on a real cluster). */
  notAllowed: string[];
  /** Requests answered 403 Forbidden. */
  forbidden: string[];
  /** `role: verb group/resource` that no request used, minus `allowedUnused`. */
  unused: string[];
  /** How many requests were compared. */
  requests: number;
}

const resourceOf = (r: Pick<ResourceRequest, 'resource' | 'subresource'>) => (r.subresource ? `${r.resource}/${r.subresource}` : r.resource);

/** `verb group/resource ns/name`, the group written `core` for the empty one. */
export function describeRequest(r: ResourceRequest): string {
  const where = `${r.namespace ? `${r.namespace}/` : ''}${r.name ?? ''}`;
  return `${r.verb} ${r.apiGroup || 'core'}/${resourceOf(r)}${where ? ` ${where}` : ''}${r.code ? ` -> ${r.code}` : ''}`;
}

const grantKey = (role: string, verb: string, group: string, resource: string, name?: string) =>
  `${role}: ${verb} ${group || 'core'}/${resource}${name ? ` (${name})` : ''}`;

const UNNAMED_VERBS = new Set(['create', 'list', 'watch', 'deletecollection']);

function ruleAllows(rule: ExplainedRule, r: ResourceRequest, verb: string): boolean {
  if (!rule.apiGroups.includes(r.apiGroup) || !rule.resources.includes(resourceOf(r)) || !rule.verbs.includes(verb)) return false;
  // resourceNames cannot restrict create (the name is not known before the object exists), list,
  // watch or deletecollection: RBAC matches those only with a rule without names.
  if (rule.resourceNames?.length) return !UNNAMED_VERBS.has(verb) && r.name !== undefined && rule.resourceNames.includes(r.name);
  return true;
}

function grantApplies(grant: Grant, r: ResourceRequest): boolean {
  return grant.namespace === undefined || grant.namespace === r.namespace;
}

/**
 * The verbs RBAC checks for a request. A server-side apply that creates the object is one PATCH in
 * the audit log (201 Created), but the API server authorizes it for `create` as well.
 */
export function verbsChecked(r: ResourceRequest): string[] {
  return r.verb === 'patch' && r.code === 201 ? ['patch', 'create'] : [r.verb];
}

export function compareRbac(grants: readonly Grant[], requests: readonly ResourceRequest[], allowedUnused: readonly UnusedAllowed[] = []): RbacComparison {
  const used = new Set<string>();
  const notAllowed = new Set<string>();
  const forbidden = new Set<string>();
  for (const r of requests) {
    if (r.code === 403) forbidden.add(describeRequest(r));
    for (const verb of verbsChecked(r)) {
      let allowed = false;
      for (const grant of grants) {
        if (!grantApplies(grant, r)) continue;
        for (const rule of grant.rules) {
          if (!ruleAllows(rule, r, verb)) continue;
          allowed = true;
          used.add(grantKey(grant.role, verb, r.apiGroup, resourceOf(r), rule.resourceNames?.length ? r.name : undefined));
        }
      }
      if (!allowed && r.code !== 403) notAllowed.add(describeRequest({ ...r, verb }));
    }
  }
  const excused = new Set(allowedUnused.map((a) => a.grant));
  const unused: string[] = [];
  for (const grant of grants) {
    for (const rule of grant.rules) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          for (const verb of rule.verbs) {
            for (const name of rule.resourceNames?.length ? rule.resourceNames : [undefined]) {
              const key = grantKey(grant.role, verb, group, resource, name);
              if (!used.has(key) && !excused.has(key)) unused.push(key);
            }
          }
        }
      }
    }
  }
  return { notAllowed: [...notAllowed].sort(), forbidden: [...forbidden].sort(), unused, requests: requests.length };
}
