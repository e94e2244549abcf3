// `kubectl cells completion bash|zsh`: shell completion scripts for the plugin's commands, verbs and
// flags, with cell and migration names completed from `kubectl get` at the time of the <TAB>.
const COMMANDS = 'status get cordon uncordon drain migration rebalance route version completion help';
const MIGRATION_VERBS = 'watch promote pause resume abort retry';
const FLAGS = '--kubeconfig --context --output -o --to --customer --yes --interval --router-url --timeout --watch -w --proposal --help';

/** The bash script; `source <(kubectl cells completion bash)`, or kubectl_complete-cells for kubectl's own completion. */
export function bashCompletion(): string {
  return `# bash completion for kubectl cells (source <(kubectl cells completion bash))
_kubectl_cells() {
  local cur prev words cword
  cur="\${COMP_WORDS[COMP_CWORD]}"; prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local first="\${COMP_WORDS[1]}"
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "${FLAGS}" -- "$cur") ); return; fi
  case "$prev" in
    -o|--output) COMPREPLY=( $(compgen -W "json yaml" -- "$cur") ); return;;
    --to) COMPREPLY=( $(compgen -W "$(kubectl get cells -o name 2>/dev/null | sed 's|.*/||')" -- "$cur") ); return;;
  esac
  if (( COMP_CWORD == 1 )); then COMPREPLY=( $(compgen -W "${COMMANDS}" -- "$cur") ); return; fi
  case "$first" in
    get|cordon|uncordon|drain) COMPREPLY=( $(compgen -W "$(kubectl get cells -o name 2>/dev/null | sed 's|.*/||')" -- "$cur") );;
    completion) COMPREPLY=( $(compgen -W "bash zsh" -- "$cur") );;
    migration|migrations|mig)
      if (( COMP_CWORD == 2 )); then COMPREPLY=( $(compgen -W "${MIGRATION_VERBS}" -- "$cur") );
      else COMPREPLY=( $(compgen -W "$(kubectl get migrations -o name 2>/dev/null | sed 's|.*/||')" -- "$cur") ); fi;;
    rebalance)
      if (( COMP_CWORD == 2 )); then COMPREPLY=( $(compgen -W "status approve" -- "$cur") );
      else COMPREPLY=( $(compgen -W "$(kubectl get cellrebalancepolicies -o name 2>/dev/null | sed 's|.*/||')" -- "$cur") ); fi;;
  esac
}
complete -F _kubectl_cells kubectl-cells
`;
}

/** The zsh script, through zsh's bash completion compatibility. */
export function zshCompletion(): string {
  return `#compdef kubectl-cells
# zsh completion for kubectl cells (source <(kubectl cells completion zsh))
autoload -U +X bashcompinit && bashcompinit
${bashCompletion().split('\n').slice(1).join('\n')}`;
}
