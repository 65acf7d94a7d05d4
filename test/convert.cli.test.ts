/** `wsgate convert` as a child process of the built CLI (`npm run build`): files, stdin, exit codes. */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";

const CLI = new URL("../dist/cli/main.js", import.meta.url).pathname;
const fixture = (name: string): string => new URL(`./fixtures/ingress/${name}`, import.meta.url).pathname;

function convert(
  args: string[],
  stdin = "",
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, "convert", ...args]);
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

it("exits 0 when every part of the Ingress was carried over, so that scripts can trust a clean run", async () => {
  const { code, stdout } = await convert([fixture("01-websocket-timeouts.yaml")]);
  expect(code).toBe(0);
  expect(stdout).toBe(readFileSync(fixture("golden/01-websocket-timeouts.yaml"), "utf8"));
});

it("exits 3 when something was dropped, reading stdin, so that a dropped snippet cannot go unnoticed", async () => {
  const { code, stdout } = await convert([], readFileSync(fixture("08-configuration-snippet.yaml"), "utf8"));
  expect(code).toBe(3);
  expect(stdout).toContain("# dropped: nginx.ingress.kubernetes.io/configuration-snippet ignored");
});

it("converts several files in one run and exits 3 if any of them dropped something", async () => {
  const { code, stdout } = await convert([fixture("01-websocket-timeouts.yaml"), fixture("22-cors.yaml")]);
  expect(code).toBe(3);
  expect(stdout).toContain("# Ingress apps/chat");
  expect(stdout).toContain("# Ingress apps/widget");
});

it("refuses input without an Ingress and unreadable files with exit 1", async () => {
  expect((await convert([], "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n")).code).toBe(1);
  const missing = await convert(["/nonexistent/ingress.yaml"]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain("cannot read");
});

it("converts to a Gateway, HTTPRoutes and WebSocketPolicies with --to gateway-api, and refuses another target with exit 2", async () => {
  const { code, stdout } = await convert(["--to", "gateway-api", fixture("01-websocket-timeouts.yaml")]);
  expect(code).toBe(0);
  expect(stdout).toBe(readFileSync(fixture("golden-gateway-api/01-websocket-timeouts.yaml"), "utf8"));
  const other = await convert(["--to=traefik", fixture("01-websocket-timeouts.yaml")]);
  expect(other.code).toBe(2);
  expect(other.stderr).toContain("websocketroute or gateway-api");
});
