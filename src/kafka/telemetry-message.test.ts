import { decodeMessage, encodeMessage, MAX_READINGS_PER_REQUEST, parseReadings } from './telemetry-message.js';

describe('telemetry messages', () => {
  it('takes one reading or an array of them from a device', () => {
    expect(parseReadings({ id: 7, device: 'thermo-1', value: 21.5 })).toEqual({ ok: true, readings: [{ id: 7, device: 'thermo-1', value: 21.5 }] });
    expect(parseReadings([{ id: 1, device: 'a', value: 0, extra: 'dropped' }])).toEqual({ ok: true, readings: [{ id: 1, device: 'a', value: 0 }] });
  });

  it('refuses a bad reading naming the field and its position', () => {
    expect(parseReadings([{ id: 1, device: 'a', value: 0 }, { id: 1.5, device: 'a', value: 0 }])).toEqual({ ok: false, problem: '[1].id must be a non-negative integer (the device\'s id of the reading)' });
    expect(parseReadings({ id: 1, device: 'a b', value: 0 })).toMatchObject({ ok: false, problem: expect.stringContaining('reading.device') });
    expect(parseReadings({ id: 1, device: 'a', value: 'hot' })).toEqual({ ok: false, problem: 'reading.value must be a finite number' });
    expect(parseReadings([])).toEqual({ ok: false, problem: 'the body holds no reading' });
    expect(parseReadings(Array.from({ length: MAX_READINGS_PER_REQUEST + 1 }, (_, i) => ({ id: i, device: 'a', value: 0 })))).toMatchObject({ ok: false });
  });

  it('round-trips through the topic, the key being the customer', () => {
    const m = { customer: 'acme', id: 42, device: 'd', value: -1.25 };
    expect(decodeMessage(Buffer.from('acme'), encodeMessage(m))).toEqual({ ok: true, message: m });
  });

  it('encodes exactly what JSON.stringify of the message would', () => {
    for (const m of [
      { customer: 'acme', id: 0, device: 'd', value: -0 },
      { customer: 'a.b-c', id: Number.MAX_SAFE_INTEGER, device: 'x:y_z.1', value: 1e21 },
      { customer: 'acme', id: 3, device: 'd', value: 0.1 + 0.2 },
      { customer: 'q"uote', id: 3, device: 'back\\slash', value: 5e-324 },
    ]) {
      expect(encodeMessage(m).toString('utf8')).toBe(JSON.stringify({ v: 1, customer: m.customer, id: m.id, device: m.device, value: m.value }));
    }
  });

  it('says why a message from the topic cannot be written', () => {
    expect(decodeMessage(null, Buffer.from('{'))).toEqual({ ok: false, problem: 'the value is not JSON' });
    expect(decodeMessage(Buffer.from('other'), encodeMessage({ customer: 'acme', id: 1, device: 'd', value: 1 }))).toEqual({ ok: false, problem: 'the key is not the message\'s customer id' });
    expect(decodeMessage(null, Buffer.from(JSON.stringify({ v: 1, customer: 'Bad Id', id: 1, device: 'd', value: 1 })))).toMatchObject({ ok: false, problem: expect.stringMatching(/^customer must be/) });
    expect(decodeMessage(null, Buffer.from(JSON.stringify({ v: 2 })))).toEqual({ ok: false, problem: 'the value is not a version 1 telemetry message' });
  });
});
