// The ValidatingAdmissionPolicy (+ binding + allowlist ConfigMap) that enforces cell-policy.ts at
// admission, so that a Cell naming a namespace or a Secret it may not reach is refused before it is
// stored, with a message naming the field. Rendered into config/policy/ and the Helm chart by
// `npm run gen:rbac`; the reconciler checks the same rule again (cell-policy.ts).
import { CELL, GROUP } from '../crds/group.js';

/** The keys of the allowlist ConfigMap (the policy's params). */
export const POLICY_PARAM_KEYS = { operatorNamespace: 'operatorNamespace', allowedNamespaces: 'allowedNamespaces' } as const;

// `namespace` is a CEL reserved word: fields of that name are spelled __namespace__.
const CELL_NAMESPACE = "has(object.spec.__namespace__) ? object.spec.__namespace__ : 'cell-' + object.metadata.name";
const ALLOWED = `params.data.?${POLICY_PARAM_KEYS.allowedNamespaces}.orValue('').split(',').map(e, e.trim()).filter(e, e != '')`;
const matches = (ns: string) => `variables.allowed.exists(e, e == ${ns} || (e.endsWith('*') && ${ns}.startsWith(e.substring(0, size(e) - 1))))`;
const SECRET_REF = 'object.spec.database.external.secretRef';
const HAS_SECRET_REF = 'has(object.spec.database) && has(object.spec.database.external)';
const OLD_SECRET_REF = 'oldObject.spec.database.external.secretRef';
const HAD_SECRET_REF = 'oldObject != null && has(oldObject.spec.database) && has(oldObject.spec.database.external)';

export interface PolicyValidation {
  expression: string;
  messageExpression: string;
  reason: 'Forbidden';
}

/** The CEL variables and validations, shared by config/policy/ and the chart. */
export const POLICY_VARIABLES = [
  { name: 'allowed', expression: ALLOWED },
  { name: 'cellNamespace', expression: CELL_NAMESPACE },
] as const;

export const POLICY_VALIDATIONS: readonly PolicyValidation[] = [
  {
    // spec.namespace is immutable (CRD rule), so only a create can bring a new one.
    expression: `request.operation != 'CREATE' || !has(object.spec.__namespace__) || object.spec.__namespace__ == 'cell-' + object.metadata.name || ${matches('object.spec.__namespace__')}`,
    messageExpression:
      "'spec.namespace: ' + object.spec.__namespace__ + ' is not allowed: a cell lives in cell-' + object.metadata.name + ' (leave spec.namespace out) or in a namespace the operator allows (' + (size(variables.allowed) == 0 ? 'none' : variables.allowed.join(', ')) + ')'",
    reason: 'Forbidden',
  },
  {
    // An update that keeps the Secret it had (a finalizer patch) passes: only a new reference is judged.
    expression: `!(${HAS_SECRET_REF}) || (${HAD_SECRET_REF} && ${OLD_SECRET_REF}.__namespace__ == ${SECRET_REF}.__namespace__ && ${OLD_SECRET_REF}.name == ${SECRET_REF}.name) || ${SECRET_REF}.__namespace__ == params.data.?${POLICY_PARAM_KEYS.operatorNamespace}.orValue('') || ${SECRET_REF}.__namespace__ == variables.cellNamespace || ${matches(`${SECRET_REF}.__namespace__`)}`,
    messageExpression: `'spec.database.external.secretRef: Secret ' + ${SECRET_REF}.__namespace__ + '/' + ${SECRET_REF}.name + ' may not be used: the Secret must be in the operator\\'s namespace ' + params.data.?${POLICY_PARAM_KEYS.operatorNamespace}.orValue('') + ', in the cell\\'s namespace ' + variables.cellNamespace + ' or in a namespace the operator allows (' + (size(variables.allowed) == 0 ? 'none' : variables.allowed.join(', ')) + ')'`,
    reason: 'Forbidden',
  },
];

export interface PolicyNames {
  /** Name of the ValidatingAdmissionPolicy and of its binding (cluster-scoped). */
  policy: string;
  /** The allowlist ConfigMap, in the operator's namespace. */
  params: { name: string; namespace: string };
}

/** The ValidatingAdmissionPolicy of Cells. */
export function admissionPolicy(names: PolicyNames): object {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: names.policy },
    spec: {
      // The policy refuses everything while its allowlist is missing or cannot be evaluated.
      failurePolicy: 'Fail',
      paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
      matchConstraints: {
        resourceRules: [{ apiGroups: [GROUP], apiVersions: ['*'], resources: [CELL.plural], operations: ['CREATE', 'UPDATE'] }],
      },
      variables: POLICY_VARIABLES.map((v) => ({ ...v })),
      validations: POLICY_VALIDATIONS.map((v) => ({ ...v })),
    },
  };
}

export function admissionPolicyBinding(names: PolicyNames): object {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: names.policy },
    spec: {
      policyName: names.policy,
      validationActions: ['Deny'],
      paramRef: { name: names.params.name, namespace: names.params.namespace, parameterNotFoundAction: 'Deny' },
    },
  };
}

/** The allowlist: the operator's namespace and its --allowed-namespaces, comma-separated. */
export function policyParams(names: PolicyNames, allowedNamespaces: readonly string[]): object {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: names.params.name, namespace: names.params.namespace },
    data: {
      [POLICY_PARAM_KEYS.operatorNamespace]: names.params.namespace,
      [POLICY_PARAM_KEYS.allowedNamespaces]: allowedNamespaces.join(','),
    },
  };
}
