// A KubeClient for tests: records every request and answers from a handler the test provides.
import type { KubeClient, KubeRequest } from '../../src/runtime/kube-client.js';

export class FakeKubeClient implements KubeClient {
  readonly requests: KubeRequest[] = [];

  constructor(private readonly answer: (req: KubeRequest) => unknown = () => ({})) {}

  async request<T>(req: KubeRequest): Promise<T> {
    this.requests.push(req);
    return (await this.answer(req)) as T;
  }

  writes(): KubeRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }
}
