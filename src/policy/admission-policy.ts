// The ValidatingAdmissionPolicy (+ binding) that enforces cell-policy.ts at admission, so that a
// Cell naming a namespace or a Secret it may not reach, or a workload name of its own children, is
// refused before it is stored, with a message naming the field. Rendered into config/policy/ and
// the Helm chart by `npm run gen:rbac`; the reconciler checks the same rules again (cell-policy.ts).
//
// The allowlist is the policy's two variables (`allowed`, `operatorNamespace`), written into the
// policy by whoever installs it (the chart from its values), not a params ConfigMap: on
// kube-apiserver 1.36 a ConfigMap paramRef of a policy matching a cluster-scoped kind answered
// "no params found" although the ConfigMap existed, which would refuse every Cell.
import { CELL, GROUP } from '../crds/group.js';

// `namespace` is a CEL reserved word, and an admission policy (unlike a CRD rule) does not unescape
// `__namespace__` (it silently reads a field of that literal name): index the map instead.
const ns = (object: string): string => `${object}[?'namespace'].orValue('')`;
const SPEC_NAMESPACE = ns('object.spec');
const CELL_NAMESPACE = `${SPEC_NAMESPACE} != '' ? ${SPEC_NAMESPACE} : 'cell-' + object.metadata.name`;
const matches = (ns: string) => `variables.allowed.exists(e, e == ${ns} || (e.endsWith('*') && ${ns}.startsWith(e.substring(0, size(e) - 1))))`;
const SECRET_REF = 'object.spec.database.external.secretRef';
const HAS_SECRET_REF = 'has(object.spec.database) && has(object.spec.database.external)';
const OLD_SECRET_REF = 'oldObject.spec.database.external.secretRef';
const HAD_SECRET_REF = 'oldObject != null && has(oldObject.spec.database) && has(oldObject.spec.database.external)';
const CA_REF = 'object.spec.database.external.caRef';
const HAS_CA_REF = `${HAS_SECRET_REF} && has(object.spec.database.external.caRef)`;
const OLD_CA_REF = 'oldObject.spec.database.external.caRef';
const HAD_CA_REF = `${HAD_SECRET_REF} && has(oldObject.spec.database.external.caRef)`;

export interface PolicyValidation {
  expression: string;
  messageExpression: string;
  reason: 'Forbidden' | 'Invalid';
}

/** The allowlist as the policy's variables: CEL literals (a JSON array of strings is a CEL list). */
export function allowlistVariables(allowedNamespaces: readonly string[], operatorNamespace: string): { name: string; expression: string }[] {
  return [
    { name: 'allowed', expression: JSON.stringify(allowedNamespaces) },
    { name: 'operatorNamespace', expression: JSON.stringify(operatorNamespace) },
  ];
}

/** The variables computed from the Cell, after the allowlist's. */
export const POLICY_VARIABLES = [{ name: 'cellNamespace', expression: CELL_NAMESPACE }] as const;

export const POLICY_VALIDATIONS: readonly PolicyValidation[] = [
  {
    // spec.namespace is immutable (CRD rule), so only a create can bring a new one.
    expression: `request.operation != 'CREATE' || ${SPEC_NAMESPACE} == '' || ${SPEC_NAMESPACE} == 'cell-' + object.metadata.name || ${matches(SPEC_NAMESPACE)}`,
    messageExpression:
      `'spec.namespace: ' + ${SPEC_NAMESPACE} + ' is not allowed: a cell lives in cell-' + object.metadata.name + ' (leave spec.namespace out) or in a namespace the operator allows (' + (size(variables.allowed) == 0 ? 'none' : variables.allowed.join(', ')) + ')'`,
    reason: 'Forbidden',
  },
  {
    // An update that keeps the Secret it had (a finalizer patch) passes: only a new reference is judged.
    expression: `!(${HAS_SECRET_REF}) || (${HAD_SECRET_REF} && ${ns(OLD_SECRET_REF)} == ${ns(SECRET_REF)} && ${OLD_SECRET_REF}.name == ${SECRET_REF}.name) || ${ns(SECRET_REF)} == variables.operatorNamespace || ${ns(SECRET_REF)} == variables.cellNamespace || ${matches(`${ns(SECRET_REF)}`)}`,
    messageExpression: `'spec.database.external.secretRef: Secret ' + ${ns(SECRET_REF)} + '/' + ${SECRET_REF}.name + ' may not be used: the Secret must be in the operator\\'s namespace ' + variables.operatorNamespace + ', in the cell\\'s namespace ' + variables.cellNamespace + ' or in a namespace the operator allows (' + (size(variables.allowed) == 0 ? 'none' : variables.allowed.join(', ')) + ')'`,
    reason: 'Forbidden',
  },
  {
    // The CA of the external database: the same namespaces as its Secret; a kept reference passes.
    expression: `!(${HAS_CA_REF}) || (${HAD_CA_REF} && ${ns(OLD_CA_REF)} == ${ns(CA_REF)} && ${OLD_CA_REF}.name == ${CA_REF}.name) || ${ns(CA_REF)} == variables.operatorNamespace || ${ns(CA_REF)} == variables.cellNamespace || ${matches(`${ns(CA_REF)}`)}`,
    messageExpression: `'spec.database.external.caRef: ' + ${ns(CA_REF)} + '/' + ${CA_REF}.name + ' may not be used: the CA must be in the operator\\'s namespace ' + variables.operatorNamespace + ', in the cell\\'s namespace ' + variables.cellNamespace + ' or in a namespace the operator allows (' + (size(variables.allowed) == 0 ? 'none' : variables.allowed.join(', ')) + ')'`,
    reason: 'Forbidden',
  },
  {
    // Here rather than in the CRD: a CRD rule reading metadata.name in a loop is over the cost budget.
    expression: "!has(object.spec.workloads) || object.spec.workloads.all(w, w.name != object.metadata.name && !w.name.startsWith(object.metadata.name + '-') && 'kafka-user-' + w.name != object.metadata.name + '-db-credentials')",
    messageExpression:
      "'spec.workloads: ' + object.spec.workloads.filter(w, w.name == object.metadata.name || w.name.startsWith(object.metadata.name + '-') || 'kafka-user-' + w.name == object.metadata.name + '-db-credentials').map(w, w.name).join(', ') + ' may not be used: a workload may not be named after the cell or start with \"' + object.metadata.name + '-\", names that belong to the cell\\'s database and Kafka objects'",
    reason: 'Invalid',
  },
];

export interface PolicyNames {
  /** Name of the ValidatingAdmissionPolicy and of its binding (cluster-scoped). */
  policy: string;
}

/** The ValidatingAdmissionPolicy of Cells with this allowlist (keep it equal to the operator's --allowed-namespaces). */
export function admissionPolicy(names: PolicyNames, allowlist: { allowedNamespaces: readonly string[]; operatorNamespace: string }): object {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: names.policy },
    spec: {
      // A Cell is refused while the rules cannot be evaluated.
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [{ apiGroups: [GROUP], apiVersions: ['*'], resources: [CELL.plural], operations: ['CREATE', 'UPDATE'] }],
      },
      variables: [...allowlistVariables(allowlist.allowedNamespaces, allowlist.operatorNamespace), ...POLICY_VARIABLES.map((v) => ({ ...v }))],
      validations: POLICY_VALIDATIONS.map((v) => ({ ...v })),
    },
  };
}

export function admissionPolicyBinding(names: PolicyNames): object {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: names.policy },
    spec: { policyName: names.policy, validationActions: ['Deny'] },
  };
}
