// jest's e2e global setup. jest loads this file with Node's own module resolution, which cannot
// import our TypeScript modules by their `.js` names: tsx's loader is registered first.
import { register } from 'tsx/esm/api';

export default async function globalSetup(): Promise<void> {
  register();
  const { setupE2e } = await import('./support/global-setup-impl.js');
  await setupE2e();
}
