/**
 * One fuzz case at a time against the fixture: send, read the answer, let every
 * socket close, then hold the gateway to the invariants (invariants.ts). A case that
 * breaks one leaves the gateway suspect (dead, or with a leaked count), so the next
 * case — shrinking included — starts on a fresh process.
 */
import net from "node:net";
import { CLOSE_1000, encodeFrame, isWhole, type ClientFrame, type FrameStream } from "./frames.js";
import type { Fixture, GatewayProcess } from "./fixture.js";
import {
  FORWARD_AUTH_PREFIX,
  FORWARD_AUTH_TOKEN,
  OTHER_HOST,
  PUBLIC_HOST,
  PUBLIC_MAX_MESSAGE_BYTES,
} from "./fixture.js";
import { InvariantBroken, printable, type Tally } from "./harness.js";
import {
  answerProblems,
  deliveryProblems,
  firstCloseCode,
  serverFrameProblems,
  settleProblems,
} from "./invariants.js";
import type { ProxyHeaderCase } from "./proxy-headers.js";
import { handshake, serialize, type RawRequest } from "./requests.js";
import { chunk, exchange, parseServerFrames, sendAndLeave, writePieces, type Answer } from "./wire.js";

/** How long one exchange may take before it counts as a hang. */
const CASE_DEADLINE_MS = 2_000;
/**
 * How long a client's Close or FIN may take to end the connection: a relay that
 * answered a protocol error with its own Close waits up to its close timeout (2 s)
 * for the reply it can no longer parse.
 */
const ENDING_DEADLINE_MS = 3_500;
/**
 * How long counters may take to reach zero after the client left: a relay that
 * injected a Close waits up to its close timeout (2 s) for the reply.
 */
const SETTLE_DEADLINE_MS = 4_000;

function describeAnswer(answer: Answer): string {
  switch (answer.kind) {
    case "status":
      return `status ${answer.status}`;
    case "closed":
      return "closed";
    case "garbage":
      return "garbage";
    case "hang":
      return "hang";
  }
}

/** Whether the socket closed within `ms`. */
function closedWithin(socket: net.Socket, closed: Promise<void>, ms: number): Promise<boolean> {
  if (socket.destroyed && socket.closed) return Promise.resolve(true);
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    closed.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * How the client leaves a request: it waits for the answer, closes (FIN) or resets (RST)
 * right after sending — while the gateway may be in auth or in the upstream handshake —
 * or half-closes (FIN) and still reads.
 */
export type Leave = "wait" | "abandon" | "reset" | "half-close";

const LEAVING: Record<Leave, string> = {
  wait: "",
  abandon: ", then the client closed at once",
  reset: ", then the client reset the connection at once",
  "half-close": ", then the client sent FIN and read on",
};

/** What a case's deliveries and aftermath are held to. */
interface CaseExpectations {
  /** The client address backends must be told; undefined when a trusted peer's headers count. */
  readonly client: string | undefined;
  /** Probe every route's admission afterwards (the case may have taken one). */
  readonly probe: boolean;
  /** Whether anything may reach a backend at all (not for a dropped connection). */
  readonly mayDeliver?: boolean;
}

/**
 * The size of the message a valid first frame starts (inflated, when it is compressed
 * and permessage-deflate was negotiated); undefined for frames the peer must refuse.
 */
function messageSize(frame: ClientFrame | undefined, deflate: boolean): number | undefined {
  if (!frame || !isWhole(frame) || !frame.masked || (frame.opcode !== 1 && frame.opcode !== 2))
    return undefined;
  if (frame.rsv === 0) return frame.payload.length;
  if (frame.rsv === 4 && deflate && frame.inflates !== undefined) return frame.inflates;
  return undefined;
}

export class FuzzTarget {
  readonly #fixture: Fixture;
  readonly #suspect = new Set<GatewayProcess>();

  constructor(fixture: Fixture) {
    this.#fixture = fixture;
  }

  /** A fresh process if the last case left this one dead or suspect; stale records dropped. */
  async #ready(gateway: GatewayProcess): Promise<void> {
    if (!gateway.alive() || this.#suspect.has(gateway)) {
      await gateway.restart();
      this.#suspect.delete(gateway);
    }
    this.#fixture.takeDeliveries();
    this.#fixture.takeAuthCalls();
    for (const b of this.#fixture.backends) b.takeUnparsed();
    gateway.takeRejections();
    gateway.takeComplaints();
  }

  /** The process is alive and its admin listener answers; else how it died. */
  async #aliveProblems(gateway: GatewayProcess): Promise<string[]> {
    if (gateway.alive()) {
      try {
        const res = await fetch(`${gateway.adminUrl}/healthz`);
        if (res.ok) return [];
      } catch {
        // Below: a refused connection while the process is going away.
      }
    }
    // An exit follows a crash within moments: wait for it to say why.
    const deadline = Date.now() + 1_000;
    while (gateway.alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return [`the gateway process is gone: ${gateway.exit ?? "alive, but /healthz does not answer"}`];
  }

  /**
   * Every route admits a handshake again: the counts a case took were released (each
   * route allows one connection, so a leaked admission shows as a 503 here). A refusal
   * is retried until the settle deadline: a client that left at once may leave the
   * gateway still holding its slot for a moment (its request not read yet, or its auth
   * verdict pending), which the admin API does not show; a leak never clears.
   */
  async #probeProblems(gateway: GatewayProcess): Promise<string[]> {
    const probes: [string, RawRequest][] = [
      ["/", handshake("/")],
      ["/api", handshake("/api", [["Authorization", `Bearer ${this.#fixture.tokens.valid}`]])],
      [`${OTHER_HOST}/`, handshake("/", [], OTHER_HOST)],
      [
        `${OTHER_HOST}${FORWARD_AUTH_PREFIX}`,
        handshake(FORWARD_AUTH_PREFIX, [["Authorization", `Bearer ${FORWARD_AUTH_TOKEN}`]], OTHER_HOST),
      ],
    ];
    const deadline = Date.now() + SETTLE_DEADLINE_MS;
    const admitted = async ([where, req]: [string, RawRequest]): Promise<string[]> => {
      for (;;) {
        const { answer } = await exchange(
          gateway.httpPort,
          [Buffer.concat([gateway.preamble, serialize(req)])],
          {
            method: "GET",
            deadlineMs: CASE_DEADLINE_MS,
          },
        );
        if (answer.kind === "status" && answer.status === 101) return [];
        if (Date.now() > deadline || !gateway.alive()) {
          return [
            `probe handshake on ${where} after the case: ${describeAnswer(answer)} (an admission leaked?)`,
          ];
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const problems = (await Promise.all(probes.map(admitted))).flat();
    return [...problems, ...(await settleProblems(gateway, this.#fixture.backends, SETTLE_DEADLINE_MS))];
  }

  /** Invariants that hold after any case; throws with `sent` described if one broke. */
  async #finish(
    gateway: GatewayProcess,
    sent: string,
    problems: string[],
    tally: Tally,
    expect: CaseExpectations,
  ): Promise<void> {
    const { client, probe, mayDeliver = true } = expect;
    let t = Date.now();
    // Problems of the process itself (dead, counts stuck, an admission leaked) leave it
    // suspect for the next case; problems with what one request delivered do not.
    const processProblems = await settleProblems(gateway, this.#fixture.backends, SETTLE_DEADLINE_MS);
    tally.add("ms settling", Date.now() - t);
    processProblems.push(...(await this.#aliveProblems(gateway)));
    const deliveries = this.#fixture.takeDeliveries();
    for (const d of deliveries) tally.add(`delivered ${d.kind} ${d.backend}`);
    if (!mayDeliver && deliveries.length > 0) {
      problems.push(
        `a dropped connection still reached a backend: ${deliveries.map((d) => `${d.backend} ${d.target}`).join(", ")}`,
      );
    }
    const authCalls = this.#fixture.takeAuthCalls();
    tally.add("forward-auth calls", authCalls.length);
    problems.push(...deliveryProblems(deliveries, { client, authCalls }));
    for (const b of this.#fixture.backends) {
      for (const u of b.takeUnparsed()) tally.add(`backend could not parse ${u.split(":")[0]}`);
    }
    for (const reason of gateway.takeRejections()) {
      tally.add(`rejected ${reason}`);
      if (reason.startsWith("internal_error"))
        problems.push(`the gateway published an internal_error rejection: ${reason}`);
    }
    tally.add("warn+ log lines", gateway.takeComplaints().length);
    t = Date.now();
    if (probe && processProblems.length === 0) processProblems.push(...(await this.#probeProblems(gateway)));
    tally.add("ms probing", Date.now() - t);
    if (processProblems.length > 0) this.#suspect.add(gateway);
    problems.push(...processProblems);
    if (problems.length === 0) return;
    throw new InvariantBroken(`sent to the ${gateway.name} gateway: ${sent}\n  - ${problems.join("\n  - ")}`);
  }

  /** A raw request to the plain gateway. */
  async request(request: RawRequest, cuts: readonly number[], leave: Leave, tally: Tally): Promise<void> {
    const gateway = this.#fixture.plain;
    await this.#ready(gateway);
    const bytes = serialize(request);
    const problems: string[] = [];
    if (leave === "abandon" || leave === "reset") {
      await sendAndLeave(gateway.httpPort, chunk(bytes, cuts), leave === "reset");
      tally.add(leave);
    } else {
      const { answer } = await exchange(gateway.httpPort, chunk(bytes, cuts), {
        method: request.method,
        deadlineMs: CASE_DEADLINE_MS,
        halfClose: leave === "half-close",
      });
      tally.add(`${describeAnswer(answer)}${leave === "half-close" ? " after FIN" : ""}`);
      problems.push(...answerProblems(answer));
    }
    const upgrade = request.headers.some(([n]) => n.toLowerCase() === "upgrade");
    const sent = `${printable(bytes)}${LEAVING[leave]}`;
    await this.#finish(gateway, sent, problems, tally, { client: "127.0.0.1", probe: upgrade });
  }

  /** A PROXY protocol header, then (unless the header is cut short) a request, to the PROXY gateway. */
  async proxied(
    header: ProxyHeaderCase,
    request: RawRequest,
    cuts: readonly number[],
    peerTrusted: boolean,
    tally: Tally,
  ): Promise<void> {
    if (!peerTrusted) return this.#untrustedPeer(header, request, cuts, tally);
    const gateway = this.#fixture.proxied;
    await this.#ready(gateway);
    tally.add(`header ${header.verdict}`);
    const bytes =
      header.verdict === "incomplete" ? header.bytes : Buffer.concat([header.bytes, serialize(request)]);
    const sent = `${header.label}: ${printable(bytes)}`;
    const problems: string[] = [];
    if (header.verdict === "incomplete") {
      // The client gives up inside the header: nothing to answer, nothing may reach a backend.
      await sendAndLeave(gateway.httpPort, chunk(bytes, cuts));
    } else {
      const { answer } = await exchange(gateway.httpPort, chunk(bytes, cuts), {
        method: request.method,
        deadlineMs: CASE_DEADLINE_MS,
      });
      tally.add(describeAnswer(answer));
      problems.push(...answerProblems(answer));
      if (header.verdict === "invalid" && answer.kind !== "closed") {
        problems.push(`an invalid PROXY header was answered (${describeAnswer(answer)}) instead of dropped`);
      }
    }
    const dropped = header.verdict === "invalid" || header.verdict === "incomplete";
    const upgrade = request.headers.some(([n]) => n.toLowerCase() === "upgrade");
    await this.#finish(gateway, sent, problems, tally, {
      // Behind a LOCAL header the peer itself is the (trusted) proxy: its forwarding headers count.
      client: header.verdict === "proxied" ? header.source : undefined,
      probe: upgrade && !dropped,
      mayDeliver: !dropped,
    });
  }

  /** With `--trusted-proxies` set and the peer not in it, no PROXY header is believed: nothing gets through. */
  async #untrustedPeer(
    header: ProxyHeaderCase,
    request: RawRequest,
    cuts: readonly number[],
    tally: Tally,
  ): Promise<void> {
    const gateway = this.#fixture.untrusted;
    await this.#ready(gateway);
    tally.add(`untrusted peer, header ${header.verdict}`);
    const bytes = Buffer.concat([header.bytes, serialize(request)]);
    const { answer } = await exchange(gateway.httpPort, chunk(bytes, cuts), {
      method: request.method,
      deadlineMs: CASE_DEADLINE_MS,
    });
    const problems =
      answer.kind === "closed"
        ? []
        : [`a connection from an untrusted peer was answered (${describeAnswer(answer)}) instead of dropped`];
    const sent = `from a peer not in --trusted-proxies, ${header.label}: ${printable(bytes)}`;
    await this.#finish(gateway, sent, problems, tally, {
      client: undefined,
      probe: false,
      mayDeliver: false,
    });
  }

  /** A handshake on `/` or `/api`, then a frame stream, then the client's ending. */
  async frames(stream: FrameStream, tally: Tally): Promise<void> {
    const gateway = this.#fixture.plain;
    await this.#ready(gateway);
    const extra: [string, string][] = [];
    if (stream.route === "api") extra.push(["Authorization", `Bearer ${this.#fixture.tokens.valid}`]);
    if (stream.deflate) extra.push(["Sec-WebSocket-Extensions", "permessage-deflate"]);
    const path = stream.route === "api" ? "/api" : "/";
    const host = stream.route === "other" ? OTHER_HOST : PUBLIC_HOST;
    const { answer, upgraded } = await exchange(gateway.httpPort, [serialize(handshake(path, extra, host))], {
      method: "GET",
      deadlineMs: CASE_DEADLINE_MS,
      keepUpgraded: true,
    });
    const frameBytes = Buffer.concat(stream.frames.map(encodeFrame));
    const sent = `handshake on ${host}${path}${stream.deflate ? " offering permessage-deflate" : ""}, frames ${printable(frameBytes, 300)}, cut at [${stream.cuts.join(",")}], ending ${stream.ending}`;
    const problems: string[] = [];
    if (!upgraded) {
      problems.push(`the handshake was not upgraded: ${describeAnswer(answer)}`);
      return this.#finish(gateway, sent, problems, tally, { client: "127.0.0.1", probe: false });
    }
    const { socket, received, closed } = upgraded;
    tally.add(`frames ${stream.frames.length}`);
    await writePieces(socket, chunk(frameBytes, stream.cuts));
    const whole = stream.frames.every(isWhole);
    let closedInTime = true;
    switch (stream.ending) {
      case "close-frame":
        if (socket.writable) socket.write(CLOSE_1000);
        closedInTime = await closedWithin(socket, closed, ENDING_DEADLINE_MS);
        // A stream that ends inside a frame swallows the Close as payload: waiting is right then.
        if (!closedInTime && whole)
          problems.push("a Close after whole frames did not end the connection in time");
        break;
      case "fin":
        socket.end();
        closedInTime = await closedWithin(socket, closed, ENDING_DEADLINE_MS);
        if (!closedInTime) problems.push("the connection stayed open after the client's FIN");
        break;
      case "destroy":
        socket.destroy();
        break;
      case "reset":
        socket.resetAndDestroy();
        break;
    }
    socket.destroy();
    tally.add(`ending ${stream.ending}${closedInTime ? "" : " (client gave up)"}`);

    const deflate = /^sec-websocket-extensions:.*permessage-deflate/im.test(upgraded.head);
    tally.add(
      `${stream.route} deflate ${stream.deflate ? "offered" : "not offered"}, ${deflate ? "negotiated" : "not negotiated"}`,
    );
    const frames = parseServerFrames(received());
    problems.push(...serverFrameProblems(frames, deflate));
    const code = firstCloseCode(frames);
    tally.add(`close ${code ?? "none"}`);
    const size = messageSize(stream.frames[0], deflate);
    if (
      stream.route !== "api" &&
      size !== undefined &&
      size > PUBLIC_MAX_MESSAGE_BYTES &&
      (stream.ending === "close-frame" || stream.ending === "fin") &&
      code !== 1009
    ) {
      problems.push(
        `a message of ${size} bytes on a route limited to ${PUBLIC_MAX_MESSAGE_BYTES} got Close ${code ?? "none"}, not 1009`,
      );
    }
    await this.#finish(gateway, sent, problems, tally, { client: "127.0.0.1", probe: true });
  }
}
