import type { V1PodSpec } from '@kubernetes/client-node';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, restrictedViolations } from './pod-security.js';

const compliant: V1PodSpec = {
  securityContext: restrictedPodSecurityContext(),
  containers: [{ name: 'app', image: 'x', securityContext: restrictedContainerSecurityContext({ readOnlyRootFilesystem: true }) }],
  volumes: [{ name: 'tmp', emptyDir: {} }],
};

describe('the restricted Pod Security checker', () => {
  it('accepts a pod built from the restricted security contexts', () => {
    expect(restrictedViolations(compliant)).toEqual([]);
  });

  it('names each rule a pod breaks', () => {
    const pod: V1PodSpec = {
      hostNetwork: true,
      securityContext: { runAsUser: 0 },
      initContainers: [{ name: 'init', image: 'x', securityContext: { privileged: true } }],
      containers: [
        { name: 'app', image: 'x', ports: [{ containerPort: 80, hostPort: 80 }], securityContext: { capabilities: { add: ['NET_ADMIN'] } } },
      ],
      volumes: [{ name: 'host', hostPath: { path: '/' } }],
    };
    expect(restrictedViolations(pod)).toEqual([
      'host namespaces must not be shared',
      'volume host uses hostPath, not allowed',
      'pod runAsUser must not be 0',
      'init container init must not be privileged',
      'init container init must set allowPrivilegeEscalation: false',
      'init container init must drop ALL capabilities',
      'init container init must run as non-root (runAsNonRoot: true)',
      'init container init needs seccompProfile RuntimeDefault or Localhost',
      'container app must set allowPrivilegeEscalation: false',
      'container app must drop ALL capabilities',
      'container app may add only NET_BIND_SERVICE, adds NET_ADMIN',
      'container app must run as non-root (runAsNonRoot: true)',
      'container app needs seccompProfile RuntimeDefault or Localhost',
      'container app must not use hostPort',
    ]);
  });

  it('accepts runAsNonRoot and seccomp set at pod level only', () => {
    const pod: V1PodSpec = {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'app', image: 'x', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    };
    expect(restrictedViolations(pod)).toEqual([]);
  });
});
