// The operator's own identity, shared by logs, field manager and user agent.
export const OPERATOR_NAME = 'cell-operator';
export const FIELD_MANAGER = 'cell-operator';
