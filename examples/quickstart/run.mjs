// Starts the demo echo backends and wsgate on the quickstart manifests, in one
// terminal. Ctrl-C stops both. Needs `npm run build` first.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const children = [
  spawn(process.execPath, [here("./echo-backend.mjs")], { stdio: "inherit" }),
  spawn(
    process.execPath,
    [
      here("../../dist/cli/main.js"),
      "serve",
      "--manifests",
      here("./manifests"),
      "--http-listen",
      "127.0.0.1:8080",
      "--admin-listen",
      "127.0.0.1:9090",
    ],
    { stdio: "inherit" },
  ),
];
console.log(
  "wsgate quickstart: open http://127.0.0.1:8080/echo/ in a browser, or try `node examples/quickstart/client.mjs` in another terminal",
);
const stop = () => children.forEach((c) => c.kill("SIGTERM"));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
for (const child of children)
  child.on("exit", (code) => {
    if (code) {
      stop();
      process.exitCode = code;
    }
  });
