// Security contexts that meet the Pod Security Standard `restricted` (the cell namespace enforces
// it), and a checker of that profile's rules for any pod spec the operator builds.
import type { V1Container, V1PodSecurityContext, V1PodSpec, V1SecurityContext } from '@kubernetes/client-node';

export function restrictedPodSecurityContext(user: { runAsUser?: number; fsGroup?: number } = {}): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    ...(user.runAsUser !== undefined ? { runAsUser: user.runAsUser, runAsGroup: user.runAsUser } : {}),
    ...(user.fsGroup !== undefined ? { fsGroup: user.fsGroup, fsGroupChangePolicy: 'OnRootMismatch' } : {}),
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** For containers whose image writes only to mounted volumes (readOnlyRootFilesystem). */
export function restrictedContainerSecurityContext(options: { readOnlyRootFilesystem: boolean }): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    privileged: false,
    readOnlyRootFilesystem: options.readOnlyRootFilesystem,
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

// The volume types `restricted` allows (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
const ALLOWED_VOLUME_SOURCES = new Set([
  'configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret',
]);
const ALLOWED_SECCOMP = new Set(['RuntimeDefault', 'Localhost']);
const ALLOWED_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes',
]);

/**
 * The rules of the `restricted` profile (baseline included) that `spec` breaks, one sentence each;
 * empty when the pod would be admitted by a namespace enforcing `restricted`.
 */
export function restrictedViolations(spec: V1PodSpec): string[] {
  const out: string[] = [];
  const pod = spec.securityContext ?? {};
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push('host namespaces must not be shared');
  for (const volume of spec.volumes ?? []) {
    const sources = Object.keys(volume).filter((k) => k !== 'name');
    for (const source of sources) {
      if (!ALLOWED_VOLUME_SOURCES.has(source)) out.push(`volume ${volume.name} uses ${source}, not allowed`);
    }
  }
  for (const sysctl of pod.sysctls ?? []) {
    if (!ALLOWED_SYSCTLS.has(sysctl.name)) out.push(`sysctl ${sysctl.name} is not allowed`);
  }
  if (pod.runAsUser === 0) out.push('pod runAsUser must not be 0');
  if (pod.seccompProfile && !ALLOWED_SECCOMP.has(pod.seccompProfile.type)) out.push('pod seccompProfile must be RuntimeDefault or Localhost');
  if (pod.seLinuxOptions?.user || pod.seLinuxOptions?.role) out.push('pod seLinuxOptions user/role must not be set');
  if (pod.appArmorProfile?.type === 'Unconfined') out.push('pod appArmorProfile must not be Unconfined');
  if (pod.windowsOptions?.hostProcess) out.push('pod must not be a Windows HostProcess pod');

  const containers: [string, V1Container][] = [
    ...(spec.initContainers ?? []).map((c): [string, V1Container] => ['init container', c]),
    ...spec.containers.map((c): [string, V1Container] => ['container', c]),
  ];
  for (const [what, c] of containers) {
    const sc = c.securityContext ?? {};
    const name = `${what} ${c.name}`;
    if (sc.privileged) out.push(`${name} must not be privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${name} must set allowPrivilegeEscalation: false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${name} must drop ALL capabilities`);
    const added = (sc.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE');
    if (added.length > 0) out.push(`${name} may add only NET_BIND_SERVICE, adds ${added.join(', ')}`);
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) out.push(`${name} must run as non-root (runAsNonRoot: true)`);
    if (sc.runAsUser === 0) out.push(`${name} runAsUser must not be 0`);
    const seccomp = sc.seccompProfile ?? pod.seccompProfile;
    if (!seccomp || !ALLOWED_SECCOMP.has(seccomp.type)) out.push(`${name} needs seccompProfile RuntimeDefault or Localhost`);
    if (sc.procMount && sc.procMount !== 'Default') out.push(`${name} procMount must be Default`);
    if (sc.seLinuxOptions?.user || sc.seLinuxOptions?.role) out.push(`${name} seLinuxOptions user/role must not be set`);
    if (sc.appArmorProfile?.type === 'Unconfined') out.push(`${name} appArmorProfile must not be Unconfined`);
    if (sc.windowsOptions?.hostProcess) out.push(`${name} must not be a Windows HostProcess container`);
    if ((c.ports ?? []).some((p) => p.hostPort)) out.push(`${name} must not use hostPort`);
  }
  return out;
}
