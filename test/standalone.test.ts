/**
 * `wsgate serve --manifests DIR` composed as the CLI does it: real listeners on
 * port 0, a real directory watched for edits while connections stay open.
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import type { RunningGateway } from "../src/cli/serve.js";
import { startEchoBackend, type EchoBackend } from "./helpers/backends.js";
import { connect, expectRefusal, roundTrip } from "./helpers/gateway.js";
import { manifestDir, routeYaml, serviceYaml, startStandalone } from "./helpers/standalone.js";

let dir: string;
let running: RunningGateway;
let backend: EchoBackend;
let clients: WebSocket[] = [];

/** Writes a file the way editors and ConfigMap updates do: a new file renamed into place. */
function writeAtomically(name: string, text: string): void {
  const tmp = join(dir, `.${name}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, join(dir, name));
}

function wsUrl(path: string): string {
  return `ws://127.0.0.1:${running.httpAddress.port}${path}`;
}

async function admin(path: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${running.adminAddress.port}${path}`);
}

async function open(path: string): Promise<WebSocket> {
  const ws = await connect(wsUrl(path));
  clients.push(ws);
  return ws;
}

interface DebugConfig {
  table: { generation: number; routes: { key: string }[] };
  routes: {
    namespace: string;
    name: string;
    status: { conditions: { type: string; status: string; reason: string; message: string }[] };
  }[];
  sources: { manifests: { problems: { file: string; errors: string[] }[] } };
}

beforeEach(async () => {
  dir = manifestDir("manifests");
  backend = await startEchoBackend();
  writeFileSync(join(dir, "service.yaml"), serviceYaml("echo", backend.port));
  writeFileSync(join(dir, "chat.yml"), routeYaml("chat", "/chat"));
  running = await startStandalone(dir);
});

afterEach(async () => {
  for (const c of clients) c.terminate();
  clients = [];
  await running.stop();
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("standalone gateway on a manifest directory", () => {
  it("serves the routes of the directory and reports ready", async () => {
    expect(running.holder.current.generation).toBe(1);
    const ws = await open("/chat");
    expect((await roundTrip(ws, "hi")).data.toString()).toBe("hi");
    expect((await admin("/readyz")).status).toBe(200);
    expect((await admin("/healthz")).status).toBe(200);
    const debug = (await (await admin("/debug/config")).json()) as DebugConfig;
    expect(debug.table.routes.map((r) => r.key)).toEqual(["apps/chat"]);
    const conditions = debug.routes[0]!.status.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
    expect(conditions).toEqual([
      "Accepted=True/Accepted",
      "ResolvedRefs=True/ResolvedRefs",
      "Programmed=True/Programmed",
    ]);
  });

  it("exports the connection and routing metrics", async () => {
    const ws = await open("/chat");
    await roundTrip(ws, "x".repeat(100));
    const text = await (await admin("/metrics")).text();
    expect(text).toMatch(
      /wsgate_connections_active\{namespace="apps",route="chat",backend="apps\/echo:80"\} 1/,
    );
    expect(text).toMatch(/wsgate_connections_total\{namespace="apps",route="chat"\} 1/);
    // 100-byte payload in a masked frame: 2 header + 4 mask bytes.
    expect(text).toMatch(/wsgate_bytes_total\{namespace="apps",route="chat",direction="from_client"\} 106/);
    expect(text).toMatch(/wsgate_routing_table_generation 1/);
    expect(text).toMatch(/wsgate_routing_compile_duration_seconds_count 1/);
    expect(text).toMatch(/wsgate_process_cpu_seconds_total/);
  });

  it("counts plain HTTP requests it refuses itself by reason, apart from handshakes", async () => {
    const base = `http://127.0.0.1:${running.httpAddress.port}`;
    expect((await fetch(`${base}/chat/%00`)).status).toBe(400);
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    expect((await expectRefusal(wsUrl("/nowhere"))).status).toBe(404);
    const text = await (await admin("/metrics")).text();
    expect(text).toMatch(/wsgate_request_rejections_total\{namespace="",route="",reason="bad_request"\} 1/);
    expect(text).toMatch(/wsgate_request_rejections_total\{namespace="",route="",reason="no_route"\} 1/);
    expect(text).toMatch(/wsgate_handshake_rejections_total\{namespace="",route="",reason="no_route"\} 1/);
  });

  it("applies an edited file while connections stay open", async () => {
    const ws = await open("/chat");
    const next = running.holder.waitForGeneration(2);
    writeAtomically("chat.yml", routeYaml("chat", "/talk"));
    await next;
    expect((await roundTrip(ws, "still here")).data.toString()).toBe("still here");
    expect((await expectRefusal(wsUrl("/chat"))).status).toBe(404);
    await open("/talk");
  });

  it("serves an added file and forgets a deleted one, leaving open connections alone", async () => {
    const chat = await open("/chat");
    const added = running.holder.waitForGeneration(2);
    writeAtomically("games.yaml", routeYaml("games", "/games"));
    await added;
    const games = await open("/games");

    const removed = running.holder.waitForGeneration(3);
    rmSync(join(dir, "games.yaml"));
    await removed;
    expect((await expectRefusal(wsUrl("/games"))).status).toBe(404);
    expect((await roundTrip(games, "games still open")).data.toString()).toBe("games still open");
    expect((await roundTrip(chat, "chat still open")).data.toString()).toBe("chat still open");
  });

  it("keeps the last good objects of a broken file and still applies other files", async () => {
    const ws = await open("/chat");
    writeAtomically(
      "chat.yml",
      "apiVersion: wsgate.io/v1alpha1\nkind: WebSocketRoute\nmetadata: { name: chat\n  broken: [\n",
    );
    const next = running.holder.waitForGeneration(2);
    writeAtomically("games.yaml", routeYaml("games", "/games"));
    await next;
    // The broken file's route is still served from its last good version.
    await open("/chat");
    await open("/games");
    expect((await roundTrip(ws, "unaffected")).data.toString()).toBe("unaffected");
    const debug = (await (await admin("/debug/config")).json()) as DebugConfig;
    const problem = debug.sources.manifests.problems.find((p) => p.file === "chat.yml");
    expect(problem?.errors.join("\n")).toMatch(/YAML/);
  });

  it("keeps the last good route when an edit fails validation, and reports the field", async () => {
    const next = running.holder.waitForGeneration(2);
    writeAtomically("chat.yml", routeYaml("chat", "no-leading-slash"));
    writeAtomically("games.yaml", routeYaml("games", "/games"));
    await next;
    await running.holder.waitForGeneration(running.holder.current.generation);
    await open("/chat");
    const debug = (await (await admin("/debug/config")).json()) as DebugConfig;
    const problem = debug.sources.manifests.problems.find((p) => p.file === "chat.yml");
    expect(problem?.errors.join("\n")).toMatch(
      /spec\.rules\[0\]\.matches\[0\]\.path\.value: must start with \//,
    );
  });

  it("reports a new invalid route as Accepted=False Invalid without disturbing others", async () => {
    const next = running.holder.waitForGeneration(2);
    writeAtomically("bad.yaml", routeYaml("bad", "/bad").replace("port: 80", "port: 70000"));
    await next;
    const debug = (await (await admin("/debug/config")).json()) as DebugConfig;
    const bad = debug.routes.find((r) => r.name === "bad");
    expect(bad?.status.conditions[0]).toMatchObject({ type: "Accepted", status: "False", reason: "Invalid" });
    expect(bad?.status.conditions[0]?.message).toMatch(/backendRefs\[0\]\.port/);
    await open("/chat");
  });
});
