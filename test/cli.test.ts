/** The `wsgate` command itself, as a child process of the built CLI (`npm run build`). */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const run = promisify(execFile);
const CLI = new URL("../dist/cli/main.js", import.meta.url).pathname;
const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
};

it("prints the package's version with --version and with version, and exits 0", async () => {
  for (const arg of ["--version", "version"]) {
    const { stdout } = await run(process.execPath, [CLI, arg]);
    expect(stdout).toBe(`wsgate ${version}\n`);
  }
});
