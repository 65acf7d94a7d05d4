/**
 * The fuzz target: real `wsgate serve --manifests DIR` child processes (the built
 * CLI — a child is the truest check that no input ends the process) in front of
 * recording backends, with one host carrying a public route on `/` and a JWT route on
 * `/api`, and a second host.
 *
 * Every route allows one connection at a time (`maxConnections: 1`): the fuzz runs one
 * case at a time, so a leaked admission shows as a 503 on the next probe handshake
 * instead of hiding in a counter the child does not export.
 */
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { manifestDir, serveArgs, serviceYaml } from "../helpers/standalone.js";
import { startRecordingBackend, type Delivery, type RecordingBackend } from "./recording-backend.js";

export const PUBLIC_HOST = "chat.example.com";
export const OTHER_HOST = "other.example.com";
/** The prefix only the JWT route may serve (on PUBLIC_HOST). */
export const PROTECTED_PREFIX = "/api";
/** The prefix only the forward-auth route may serve (on OTHER_HOST). */
export const FORWARD_AUTH_PREFIX = "/fa";
/** The token the forward-auth service accepts, and the identity it answers with. */
export const FORWARD_AUTH_TOKEN = "fa-ok";
export const FORWARD_AUTH_SUBJECT = "bob";
/** A token the forward-auth service accepts only after a while. */
export const FORWARD_AUTH_SLOW_TOKEN = "fa-slow";
/** The JWT route's cookie and query parameter token sources. */
export const TOKEN_COOKIE = "session";
export const TOKEN_QUERY = "access_token";
export const ISSUER = "https://issuer.fuzz";
export const AUDIENCE = "chat";
/** The subject of every token minted here: what the backend of `/api` must see as X-User-Id. */
export const SUBJECT = "alice";
/** The identity header the JWT route fills from the `sub` claim. */
export const IDENTITY_HEADER = "x-user-id";
/** The public route's message limit: frames over it must end in 1009. */
export const PUBLIC_MAX_MESSAGE_BYTES = 4096;

/**
 * Which backend serves which route: `public` (PUBLIC_HOST `/`, message limit, deflate
 * stripped), `api` (PUBLIC_HOST `/api`, JWT), `other` (OTHER_HOST `/`, message limit with
 * permessage-deflate inflated to count), `fa` (OTHER_HOST `/fa`, forward auth).
 */
export const BACKENDS = { public: "public", api: "api", other: "other", fa: "fa" } as const;

function routeYaml(name: string, host: string, path: string, service: string, extra = ""): string {
  return `apiVersion: wsgate.io/v1alpha1
kind: WebSocketRoute
metadata: { name: ${name}, namespace: apps }
spec:
  hostnames: [${host}]
  rules:
    - matches: [{ path: { type: PathPrefix, value: ${path} } }]
      backendRefs: [{ name: ${service}, port: 80 }]
${extra}`;
}

function manifests(ports: Record<keyof typeof BACKENDS, number>, jwks: string, authUrl: string): string {
  const secret = Buffer.from(jwks).toString("base64");
  return [
    serviceYaml(BACKENDS.public, ports.public),
    serviceYaml(BACKENDS.api, ports.api),
    serviceYaml(BACKENDS.other, ports.other),
    serviceYaml(BACKENDS.fa, ports.fa),
    `apiVersion: v1
kind: Secret
metadata: { name: jwt-keys, namespace: apps }
type: Opaque
data: { jwks.json: ${secret} }
`,
    routeYaml(
      "chat-public",
      PUBLIC_HOST,
      "/",
      BACKENDS.public,
      `  limits: { maxConnections: 1, maxMessageBytes: ${PUBLIC_MAX_MESSAGE_BYTES} }\n`,
    ),
    routeYaml(
      "chat-api",
      PUBLIC_HOST,
      PROTECTED_PREFIX,
      BACKENDS.api,
      `  limits: { maxConnections: 1 }
  auth:
    jwt:
      issuer: ${ISSUER}
      audiences: [${AUDIENCE}]
      keys: { secretRef: { name: jwt-keys, key: jwks.json } }
      tokenFrom:
        - { header: Authorization, prefix: "Bearer " }
        - { cookie: ${TOKEN_COOKIE} }
        - { query: ${TOKEN_QUERY} }
        - { subprotocol: {} }
      claimsToHeaders: { sub: X-User-Id }
`,
    ),
    routeYaml(
      "other",
      OTHER_HOST,
      "/",
      BACKENDS.other,
      `  limits: { maxConnections: 1, maxMessageBytes: ${PUBLIC_MAX_MESSAGE_BYTES}, permessageDeflate: Inflate }\n`,
    ),
    routeYaml(
      "other-fa",
      OTHER_HOST,
      FORWARD_AUTH_PREFIX,
      BACKENDS.fa,
      `  limits: { maxConnections: 1 }
  auth:
    forwardAuth: { url: "${authUrl}", requestHeaders: [Authorization], responseHeaders: [X-User-Id] }
`,
    ),
  ].join("---\n");
}

/** What the forward-auth service was asked. */
export interface AuthCall {
  readonly headers: Record<string, string | string[] | undefined>;
}

/** A forward-auth service: admits `Bearer fa-ok` (and, late, `Bearer fa-slow`) as `bob`, refuses anything else with 401. */
async function startAuthService(): Promise<{ url: string; take(): AuthCall[]; close(): Promise<void> }> {
  let calls: AuthCall[] = [];
  const server = http.createServer((req, res) => {
    calls.push({ headers: { ...req.headers } });
    const authorization = req.headers.authorization;
    const admit = (): void => {
      res.writeHead(200, { "X-User-Id": FORWARD_AUTH_SUBJECT });
      res.end();
    };
    if (authorization === `Bearer ${FORWARD_AUTH_TOKEN}`) admit();
    // A slow verdict, for clients that leave while the gateway waits for it.
    else if (authorization === `Bearer ${FORWARD_AUTH_SLOW_TOKEN}`) setTimeout(admit, 150);
    else {
      res.writeHead(401, { "Content-Type": "text/plain" });
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/verify`,
    take() {
      const taken = calls;
      calls = [];
      return taken;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Tokens for the JWT route: one that must pass, several that must not. */
export interface Tokens {
  readonly valid: string;
  readonly expired: string;
  readonly wrongAudience: string;
  readonly unsigned: string;
}

async function mintTokens(privateKey: CryptoKey): Promise<Tokens> {
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>): Promise<string> =>
    new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: SUBJECT, iat: now, exp: now + 3600, ...claims })
      .setProtectedHeader({ alg: "ES256", kid: "fuzz" })
      .sign(privateKey);
  const header = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
  const payload = Buffer.from(
    JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: "admin", exp: now + 3600 }),
  ).toString("base64url");
  return {
    valid: await sign({}),
    expired: await sign({ exp: now - 600, iat: now - 1200 }),
    wrongAudience: await sign({ aud: "someone-else" }),
    unsigned: `${header}.${payload}.`,
  };
}

/** A line the child logged at warn level or above, or a crash on stderr. */
export interface ChildComplaint {
  readonly at: number;
  readonly text: string;
}

/** One running `wsgate serve` child process. */
export class GatewayProcess {
  readonly name: string;
  readonly #args: readonly string[];
  #child: ChildProcess | undefined;
  #http = "";
  #admin = "";
  #exit: string | undefined;
  #stderr = "";
  /** `handshake_rejected` reasons the child logged since the last `takeRejections()`. */
  #rejections: string[] = [];
  #complaints: ChildComplaint[] = [];
  /** Processes started so far (restarts after a crash or a polluted state). */
  starts = 0;

  /** What a connection must start with on this listener (a PROXY header), for probes. */
  readonly preamble: Buffer;

  constructor(name: string, args: readonly string[], preamble = Buffer.alloc(0)) {
    this.name = name;
    this.#args = args;
    this.preamble = preamble;
  }

  get httpPort(): number {
    return Number(this.#http.split(":").pop());
  }

  get adminUrl(): string {
    return `http://${this.#admin}`;
  }

  /** Why the process ended, with what it wrote to stderr; undefined while it runs. */
  get exit(): string | undefined {
    return this.#exit;
  }

  alive(): boolean {
    return this.#child !== undefined && this.#exit === undefined;
  }

  async start(): Promise<void> {
    const cli = resolve(process.env.WSGATE_FUZZ_CLI ?? "dist/cli/main.js");
    const child = spawn(process.execPath, [cli, "serve", ...this.#args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    this.#exit = undefined;
    this.#stderr = "";
    this.starts++;
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-8_000);
    });
    child.once("exit", (code, signal) => {
      this.#exit = `exited with ${signal ?? code}; stderr: ${this.#stderr.trim() || "(empty)"}`;
    });
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolveListening, reject) => {
      child.once("exit", () => reject(new Error(`${this.name} gateway did not start: ${this.#exit}`)));
      lines.on("line", (line) => {
        let parsed: {
          event?: string;
          level?: number;
          http?: string;
          admin?: string;
          reason?: string;
          detail?: string;
        };
        try {
          parsed = JSON.parse(line) as typeof parsed;
        } catch {
          this.#complaints.push({ at: Date.now(), text: line });
          return;
        }
        if (parsed.event === "listening") {
          this.#http = parsed.http!;
          this.#admin = parsed.admin!;
          resolveListening();
        }
        if (parsed.event === "handshake_rejected" && parsed.reason) {
          const detail = parsed.detail?.replace(/"[^"]*"|\d+/g, "…").slice(0, 60);
          this.#rejections.push(detail ? `${parsed.reason} (${detail})` : parsed.reason);
        }
        if ((parsed.level ?? 0) >= 40) this.#complaints.push({ at: Date.now(), text: line });
      });
    });
  }

  takeRejections(): string[] {
    const taken = this.#rejections;
    this.#rejections = [];
    return taken;
  }

  takeComplaints(): ChildComplaint[] {
    const taken = this.#complaints;
    this.#complaints = [];
    return taken;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || this.#exit !== undefined) return;
    const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
    child.kill("SIGKILL");
    await exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

/** The whole target: backends, tokens, and the gateways in front of them. */
export interface Fixture {
  /** `wsgate serve` on plain TCP. */
  readonly plain: GatewayProcess;
  /** `wsgate serve --proxy-protocol --trusted-proxies 127.0.0.1`. */
  readonly proxied: GatewayProcess;
  /** `wsgate serve --proxy-protocol --trusted-proxies 10.9.9.9`: the fuzz connects from an untrusted peer. */
  readonly untrusted: GatewayProcess;
  readonly backends: readonly RecordingBackend[];
  readonly tokens: Tokens;
  /** Every delivery to any backend since the last call. */
  takeDeliveries(): Delivery[];
  /** Every forward-auth subrequest since the last call. */
  takeAuthCalls(): AuthCall[];
  close(): Promise<void>;
}

export interface FixtureOptions {
  /** `--workers` of every gateway process (default 1: one data-plane thread). */
  readonly workers?: number;
}

export async function startFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const workers = ["--workers", String(options.workers ?? 1)];
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "fuzz", alg: "ES256", use: "sig" };
  const tokens = await mintTokens(privateKey);
  const [pub, api, other, fa] = await Promise.all([
    startRecordingBackend(BACKENDS.public),
    startRecordingBackend(BACKENDS.api),
    startRecordingBackend(BACKENDS.other),
    startRecordingBackend(BACKENDS.fa),
  ]);
  const backends = [pub!, api!, other!, fa!];
  const auth = await startAuthService();
  const dir = manifestDir("fuzz");
  writeFileSync(
    join(dir, "fuzz.yaml"),
    manifests(
      { public: pub!.port, api: api!.port, other: other!.port, fa: fa!.port },
      JSON.stringify({ keys: [jwk] }),
      auth.url,
    ),
  );
  const plain = new GatewayProcess("plain", serveArgs(dir, workers));
  const proxied = new GatewayProcess(
    "proxied",
    serveArgs(dir, ["--proxy-protocol", "--trusted-proxies", "127.0.0.1", ...workers]),
    Buffer.from("PROXY TCP4 203.0.113.9 127.0.0.1 40000 8080\r\n"),
  );
  const untrusted = new GatewayProcess(
    "untrusted-peer",
    serveArgs(dir, ["--proxy-protocol", "--trusted-proxies", "10.9.9.9", ...workers]),
  );
  await Promise.all([plain.start(), proxied.start(), untrusted.start()]);
  return {
    plain,
    proxied,
    untrusted,
    backends,
    tokens,
    takeDeliveries: () => backends.flatMap((b) => b.take()),
    takeAuthCalls: () => auth.take(),
    async close() {
      await Promise.all([plain.stop(), proxied.stop(), untrusted.stop()]);
      await Promise.all([...backends.map((b) => b.close()), auth.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
