/**
 * The invariants every fuzz case is held to, each returning what it found broken
 * (an empty list when it holds):
 * - every answer is a valid HTTP/1.1 status line or a clean close, never a hang;
 * - no backend receives a path its route did not authorise, a Host other than its
 *   route's, a forged identity or a hop-by-hop header; the backends behind auth only
 *   receive requests with the identity their auth established, and forward auth was
 *   asked about exactly the target the backend got;
 * - the frames a client receives after a 101 are well-formed server frames;
 * - once every socket is closed, the gateway's counters are back to zero and every
 *   route admits a connection again (no admission leaked).
 */
import type { AuthCall, GatewayProcess } from "./fixture.js";
import {
  BACKENDS,
  FORWARD_AUTH_PREFIX,
  FORWARD_AUTH_SUBJECT,
  IDENTITY_HEADER,
  OTHER_HOST,
  PROTECTED_PREFIX,
  PUBLIC_HOST,
  SUBJECT,
} from "./fixture.js";
import type { Delivery, RecordingBackend } from "./recording-backend.js";
import { FORGED_ADDRESSES, HOP_MARKER } from "./header-sets.js";
import type { Answer, ServerFrame } from "./wire.js";

/** Statuses a gateway that is working as designed may answer with (DESIGN §3), or pass on from a backend. */
export function answerProblems(answer: Answer): string[] {
  switch (answer.kind) {
    case "hang":
      return [`no answer and no close before the deadline (received ${JSON.stringify(answer.received)})`];
    case "garbage":
      return [`answer is not an HTTP/1.1 response: ${answer.reason}`];
    case "status":
      return answer.status === 500 ? [`internal error: ${answer.statusLine}`] : [];
    case "closed":
      return [];
  }
}

/** Every percent-escape decoded (invalid ones left as they are), as a lenient backend does. */
function decodeAll(path: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const hex = path.slice(i + 1, i + 3);
    if (path[i] === "%" && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(path[i]!, "utf8")) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

function whatwgPath(target: string): string | undefined {
  try {
    return new URL(target, "http://backend.invalid").pathname;
  } catch {
    return undefined;
  }
}

/** RFC 3986 §5.2.4 on literal `.` and `..` segments only, backslashes read as slashes. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.replaceAll("\\", "/").split("/");
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === "..") {
      if (out.length > 1) out.pop();
      if (last) out.push("");
    } else if (segment === ".") {
      if (last) out.push("");
    } else {
      out.push(segment);
    }
  });
  const joined = out.join("/");
  return joined.startsWith("/") ? joined : `/${joined}`;
}

/**
 * The paths a backend may take `target` to mean: WHATWG URL resolution (dot segments,
 * `%2e`, backslashes), and that path with every escape decoded once and its dot
 * segments resolved again (`%61pi`, `%2F..%2F`), as servers that decode before they
 * route do. Decoding twice is not a reading any proxy could defend.
 */
export function backendReadings(target: string): string[] {
  const resolved = whatwgPath(target);
  if (resolved === undefined) return [];
  return [...new Set([resolved, removeDotSegments(decodeAll(resolved))])];
}

function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** Header values by name, as the backend's raw headers carry them (name compared case-insensitively). */
function values(delivery: Delivery, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < delivery.rawHeaders.length; i += 2) {
    if (delivery.rawHeaders[i]!.toLowerCase() === name) out.push(delivery.rawHeaders[i + 1]!);
  }
  return out;
}

function names(delivery: Delivery): string[] {
  return delivery.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
}

function hostnameOf(value: string): string | undefined {
  try {
    return new URL(`http://${value}`).hostname.replace(/\.$/, "");
  } catch {
    return undefined;
  }
}

const HOP_BY_HOP = ["keep-alive", "te", "proxy-authorization", "proxy-connection", HOP_MARKER.toLowerCase()];

/** What each backend may be reached for: its host, the prefix it must never serve, the identity it must see. */
const EXPECTED: Record<string, { host: string; forbidden?: string; identity?: string }> = {
  [BACKENDS.public]: { host: PUBLIC_HOST, forbidden: PROTECTED_PREFIX },
  [BACKENDS.api]: { host: PUBLIC_HOST, identity: SUBJECT },
  [BACKENDS.other]: { host: OTHER_HOST, forbidden: FORWARD_AUTH_PREFIX },
  [BACKENDS.fa]: { host: OTHER_HOST, identity: FORWARD_AUTH_SUBJECT },
};

export interface DeliveryContext {
  /**
   * The client address every backend must be told (X-Forwarded-For, rightmost), or
   * undefined when the peer is a trusted proxy whose forwarding headers are believed.
   */
  readonly client: string | undefined;
  /** The forward-auth subrequests made during the case. */
  readonly authCalls: readonly AuthCall[];
}

/** What the backends received that they must not have. */
export function deliveryProblems(deliveries: readonly Delivery[], ctx: DeliveryContext): string[] {
  const problems: string[] = [];
  for (const d of deliveries) {
    const target = d.target.length > 200 ? `${d.target.slice(0, 200)}…(${d.target.length} bytes)` : d.target;
    const where = `${d.backend} backend got ${d.kind} ${d.method} ${JSON.stringify(target)}`;
    const expected = EXPECTED[d.backend]!;

    if (expected.forbidden !== undefined) {
      const bypass = backendReadings(d.target).find((p) => under(p, expected.forbidden!));
      if (bypass !== undefined) {
        problems.push(
          `${where}: reads as ${JSON.stringify(bypass)}, which only the route with auth may serve`,
        );
      }
    }
    if (d.backend === BACKENDS.fa) {
      // An empty query ("/fa/?") may reach the backend without its "?": the same resource.
      const same = (uri: unknown): boolean =>
        typeof uri === "string" && uri.replace(/\?$/, "") === d.target.replace(/\?$/, "");
      const asked = ctx.authCalls.map((c) => c.headers["x-forwarded-uri"]);
      if (!asked.some(same)) {
        problems.push(`${where}: forward auth was asked about ${JSON.stringify(asked)}, not this target`);
      }
    }

    const hosts = values(d, "host");
    if (hosts.length !== 1) problems.push(`${where}: ${hosts.length} Host headers ${JSON.stringify(hosts)}`);
    // A trusted proxy's X-Forwarded-Host is believed and passed on; anyone else's is replaced.
    const forwardedHosts = ctx.client === undefined ? [] : values(d, "x-forwarded-host");
    for (const host of [...hosts, ...forwardedHosts]) {
      if (hostnameOf(host) !== expected.host) {
        problems.push(
          `${where}: Host/X-Forwarded-Host ${JSON.stringify(host)} names ${hostnameOf(host)}, not ${expected.host}`,
        );
      }
    }

    const headerNames = names(d);
    const underscored = headerNames.filter((n) => n.includes("_"));
    if (underscored.length > 0)
      problems.push(`${where}: header names with "_" ${JSON.stringify(underscored)}`);
    const hop = headerNames.filter((n) => HOP_BY_HOP.includes(n));
    if (hop.length > 0) problems.push(`${where}: hop-by-hop headers ${JSON.stringify(hop)}`);
    if (d.kind === "upgrade") {
      const length = values(d, "content-length");
      if (length.some((v) => v.trim() !== "0") || values(d, "transfer-encoding").length > 0) {
        problems.push(
          `${where}: an upgrade with a body (Content-Length ${JSON.stringify(length)}, Transfer-Encoding)`,
        );
      }
    }

    const identity = d.rawHeaders
      .map((v, i) => [v, d.rawHeaders[i + 1]] as const)
      .filter((_, i) => i % 2 === 0)
      .filter(([n]) => n.toLowerCase().replaceAll("_", "-") === IDENTITY_HEADER)
      .map(([, v]) => v);
    // Only the gateway writes the subjects (no client sends them): seeing exactly one
    // proves the request passed that route's auth, and that no forged value rode along.
    if (expected.identity !== undefined) {
      if (identity.length !== 1 || identity[0] !== expected.identity) {
        problems.push(
          `${where}: identity ${JSON.stringify(identity)}, not the authenticated "${expected.identity}"`,
        );
      }
    } else if (identity.length > 0) {
      problems.push(`${where}: client-sent identity ${JSON.stringify(identity)} on a route without auth`);
    }

    if (ctx.client !== undefined) {
      const forwarding = ["x-forwarded-for", "forwarded", "x-real-ip"].flatMap((n) => values(d, n));
      if (forwarding.some((v) => FORGED_ADDRESSES.some((a) => v.includes(a)))) {
        problems.push(`${where}: a forged client address reached it: ${JSON.stringify(forwarding)}`);
      }
      const xff = values(d, "x-forwarded-for")
        .join(",")
        .split(",")
        .map((s) => s.trim());
      if (xff.at(-1) !== ctx.client) {
        problems.push(
          `${where}: X-Forwarded-For ${JSON.stringify(xff)} does not end with the client ${ctx.client}`,
        );
      }
    }
  }
  return problems;
}

const VALID_CLOSE = (code: number): boolean =>
  (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);

/** What is wrong with the frames a client received from the gateway after a 101. */
export function serverFrameProblems(frames: readonly ServerFrame[], deflate: boolean): string[] {
  const problems: string[] = [];
  let closed = false;
  frames.forEach((f, i) => {
    const what = `frame ${i} to the client (opcode ${f.opcode}, ${f.length} bytes)`;
    if (closed) problems.push(`${what} follows a Close frame`);
    if (f.masked) problems.push(`${what} is masked`);
    if (![0, 1, 2, 8, 9, 10].includes(f.opcode)) problems.push(`${what} has a reserved opcode`);
    if (f.rsv !== 0 && !(deflate && f.rsv === 4)) problems.push(`${what} has RSV bits ${f.rsv}`);
    if (f.opcode >= 8) {
      if (!f.fin || f.length > 125) problems.push(`${what} is a fragmented or oversized control frame`);
      if (f.opcode === 8) {
        closed = true;
        if (f.payload && f.payload.length === 1) problems.push(`${what} is a Close with a 1-byte payload`);
        if (f.payload && f.payload.length >= 2 && !VALID_CLOSE(f.payload.readUInt16BE(0))) {
          problems.push(`${what} is a Close with code ${f.payload.readUInt16BE(0)}`);
        }
      }
    }
  });
  return problems;
}

/** The close code of the first Close frame, if any. */
export function firstCloseCode(frames: readonly ServerFrame[]): number | undefined {
  const close = frames.find((f) => f.opcode === 8 && f.payload && f.payload.length >= 2);
  return close?.payload?.readUInt16BE(0);
}

export interface Counters {
  readonly connections: number;
  readonly endpointsActive: number;
  readonly metricActive: number;
  readonly backendWebSockets: number;
}

/** The gateway's live counts (admin API; the metrics only when asked: they cost more) and the backends' open WebSockets. */
export async function counters(
  gateway: GatewayProcess,
  backends: readonly RecordingBackend[],
  withMetrics: boolean,
): Promise<Counters> {
  const [debug, metrics] = await Promise.all([
    fetch(`${gateway.adminUrl}/debug/config`).then(
      (r) => r.json() as Promise<{ connections: number; endpoints: { active: number }[] }>,
    ),
    withMetrics ? fetch(`${gateway.adminUrl}/metrics`).then((r) => r.text()) : "",
  ]);
  let metricActive = 0;
  for (const line of metrics.split("\n")) {
    const m = /^wsgate_connections_active(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m) metricActive += Number(m[1]);
  }
  return {
    connections: debug.connections,
    endpointsActive: debug.endpoints.reduce((sum, e) => sum + e.active, 0),
    metricActive,
    backendWebSockets: backends.reduce((sum, b) => sum + b.openWebSockets(), 0),
  };
}

function zero(c: Counters): boolean {
  return c.connections === 0 && c.endpointsActive === 0 && c.metricActive === 0 && c.backendWebSockets === 0;
}

/**
 * Polls until every counter is zero (a relay closing waits up to its close timeout
 * for the close handshake, hence the generous deadline); describes what stayed up.
 * The metrics are read once the cheaper counts are zero.
 */
export async function settleProblems(
  gateway: GatewayProcess,
  backends: readonly RecordingBackend[],
  deadlineMs: number,
): Promise<string[]> {
  const deadline = Date.now() + deadlineMs;
  let withMetrics = false;
  for (;;) {
    if (!gateway.alive()) return [];
    let c: Counters;
    try {
      c = await counters(gateway, backends, withMetrics);
    } catch (err) {
      return [`the admin API did not answer: ${(err as Error).message}`];
    }
    if (zero(c)) {
      if (withMetrics) return [];
      withMetrics = true;
      continue;
    }
    if (Date.now() > deadline) {
      return [
        `counters not back to zero ${deadlineMs} ms after every client socket closed: ${JSON.stringify(c)}`,
      ];
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
