/**
 * A rolling restart of the gateway (kubectl rollout restart): each replica leaves the
 * Service's endpoints, sleeps in preStop, then closes its connections with 1001 spread
 * over --shutdown-drain. Clients see 1001 — never an abrupt 1006 — and reconnect to the
 * replicas that remain, as many times as the rollout moves them.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import {
  GATEWAY_NAMESPACE,
  allGatewayPods,
  ask,
  closeAll,
  connect,
  gatewaysSettled,
  kubectl,
  readyGatewayPods,
  reconnect,
  scaleEcho,
  waitFor,
  type Client,
} from "./cluster.js";

interface Session {
  current: Client;
  readonly closeCodes: number[];
  reconnectAttempts: number[];
  failure?: Error;
  reconnecting: boolean;
}

const sessions: Session[] = [];

beforeAll(async () => {
  await scaleEcho(3);
  await gatewaysSettled(3);
});

afterAll(async () => {
  await closeAll(sessions.map((s) => s.current));
});

/** Follows a client across closes: on every close, records the code and reconnects. */
function follow(session: Session): void {
  void session.current.closed.then(async ({ code }) => {
    session.closeCodes.push(code);
    session.reconnecting = true;
    try {
      const { client, attempts } = await reconnect();
      session.reconnectAttempts.push(attempts);
      session.current = client;
      session.reconnecting = false;
      follow(session);
    } catch (err) {
      session.failure = err as Error;
    }
  });
}

it("closes connections with 1001 during a rollout, and every client reconnects", async () => {
  const oldPods = await allGatewayPods();
  for (let i = 0; i < 20; i++) {
    const session: Session = {
      current: await connect(),
      closeCodes: [],
      reconnectAttempts: [],
      reconnecting: false,
    };
    sessions.push(session);
    follow(session);
  }

  await kubectl("rollout", "restart", "deployment/wsgate", "-n", GATEWAY_NAMESPACE);
  await kubectl("rollout", "status", "deployment/wsgate", "-n", GATEWAY_NAMESPACE, "--timeout=300s");
  // The rollout is complete when the new Pods are ready; the old ones are still draining.
  await waitFor(
    async () => {
      const pods = await allGatewayPods();
      return pods.every((p) => !oldPods.includes(p)) && (await readyGatewayPods()).length === pods.length;
    },
    { what: "the old gateway Pods to finish draining and exit", timeoutMs: 120_000 },
  );
  await waitFor(
    () =>
      sessions.every((s) => s.failure || (!s.reconnecting && s.current.socket.readyState === WebSocket.OPEN)),
    {
      what: "every client reconnected",
    },
  );

  for (const s of sessions) {
    expect(s.failure).toBeUndefined();
    // Every client was on an old replica, so it was closed at least once, and only ever with 1001.
    expect(s.closeCodes.length).toBeGreaterThanOrEqual(1);
    expect(new Set(s.closeCodes)).toEqual(new Set([1001]));
    expect(await ask(s.current.socket, "after the rollout")).toBe("after the rollout");
  }
  const attempts = sessions.flatMap((s) => s.reconnectAttempts);
  // New connections go to ready replicas only: reconnects succeed at once, or nearly.
  expect(Math.max(...attempts)).toBeLessThanOrEqual(3);
});
