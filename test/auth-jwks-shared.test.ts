/**
 * `jwksUri` key sets shared by data-plane workers (src/dataplane/auth/shared-key-sets.ts):
 * the main thread's broker fetches from a real JWKS endpoint, "workers" verify real tokens
 * with jose through their local copies. The threads themselves are in
 * auth-jwks-workers.test.ts; here the worker–main channel is a direct call.
 */
import { jwtVerify } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { KeySetBroker, SharedKeySets } from "../src/dataplane/auth/shared-key-sets.js";
import type { RemoteKeySetOptions } from "../src/dataplane/auth/jwt.js";
import { jwksOf, mint, signingKey, startJwksServer, type TestServer } from "./helpers/auth.js";

const servers: TestServer[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** A broker and `count` workers asking it. */
function workersOf(count: number, options: RemoteKeySetOptions = {}): SharedKeySets[] {
  const broker = new KeySetBroker(options);
  return Array.from({ length: count }, () => new SharedKeySets((request) => broker.answer(request)));
}

async function verifies(worker: SharedKeySets, uri: string, token: string): Promise<boolean> {
  try {
    await jwtVerify(token, worker.get(uri));
    return true;
  } catch {
    return false;
  }
}

describe("jwksUri key sets shared by workers", () => {
  it("costs the issuer one fetch for any number of workers and handshakes, so that --workers does not multiply the load on its key set endpoint", async () => {
    const key = await signingKey("ES256", "a");
    const jwks = await startJwksServer(jwksOf(key));
    servers.push(jwks);
    const workers = workersOf(4);
    const token = await mint(key);
    // A burst at once on every worker, then more one by one.
    const burst = await Promise.all(
      workers.flatMap((w) => [1, 2, 3].map(() => verifies(w, jwks.url, token))),
    );
    expect(burst.every(Boolean)).toBe(true);
    for (const w of workers) expect(await verifies(w, jwks.url, token)).toBe(true);
    expect(jwks.fetches()).toBe(1);
  });

  it("follows the issuer's rotation with one fetch for all workers: the first unknown kid refetches, the others take the newer copy", async () => {
    const first = await signingKey("RS256", "a");
    const second = await signingKey("ES256", "b");
    const jwks = await startJwksServer(jwksOf(first));
    servers.push(jwks);
    const [a, b] = workersOf(2, { cooldownMs: 0 });
    expect(await verifies(a!, jwks.url, await mint(first))).toBe(true);
    expect(await verifies(b!, jwks.url, await mint(first))).toBe(true);
    expect(jwks.fetches()).toBe(1);

    jwks.serve(jwksOf(second));
    expect(await verifies(a!, jwks.url, await mint(second))).toBe(true);
    expect(jwks.fetches()).toBe(2);
    // b's copy is older than the main thread's: it is renewed without another fetch.
    expect(await verifies(b!, jwks.url, await mint(second))).toBe(true);
    expect(jwks.fetches()).toBe(2);
    // The issuer dropped the first key: no worker accepts its tokens any more.
    expect(await verifies(b!, jwks.url, await mint(first))).toBe(false);
  });

  it("rate-limits refetches across workers: unknown kids within the cooldown do not reach the issuer, whichever worker sees them", async () => {
    const key = await signingKey("RS256", "a");
    const jwks = await startJwksServer(jwksOf(key));
    servers.push(jwks);
    const workers = workersOf(3);
    for (const w of workers) expect(await verifies(w, jwks.url, await mint(key))).toBe(true);
    for (const [i, kid] of ["x", "y", "z"].entries()) {
      const stranger = await signingKey("RS256", kid);
      expect(await verifies(workers[i]!, jwks.url, await mint(stranger))).toBe(false);
    }
    expect(jwks.fetches()).toBe(1);
  });

  it("fails closed in every worker when the key set cannot be fetched, so that an unreachable issuer never lets a token through", async () => {
    const key = await signingKey("RS256", "a");
    const jwks = await startJwksServer(jwksOf(key));
    const url = jwks.url;
    await jwks.close();
    const workers = workersOf(2);
    for (const w of workers) {
      await expect(jwtVerify(await mint(key), w.get(url))).rejects.toThrow();
    }
  });
});
