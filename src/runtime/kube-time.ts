// The two time formats of the Kubernetes API: metav1.Time (RFC 3339, whole seconds) for
// conditions, and metav1.MicroTime (six fractional digits) for Leases and Events.
export function kubeTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}
