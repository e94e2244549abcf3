// Placeholder until the local control plane lands: replaced by the cluster bring-up.
export default async function globalSetup(): Promise<void> {}
