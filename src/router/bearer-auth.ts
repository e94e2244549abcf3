// Bearer-token check for the write endpoints, in constant time (both sides hashed first, so the
// comparison does not even leak the token's length).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export type AuthResult = 'ok' | 'missing' | 'invalid' | 'disabled';

export function bearerChecker(token: string | undefined): (req: IncomingMessage) => AuthResult {
  if (!token) return () => 'disabled';
  const expected = createHash('sha256').update(token).digest();
  return (req) => {
    const header = req.headers.authorization;
    if (!header) return 'missing';
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) return 'invalid';
    const given = createHash('sha256').update(match[1] as string).digest();
    return timingSafeEqual(given, expected) ? 'ok' : 'invalid';
  };
}
