/**
 * The test page the browser tier loads: it opens one WebSocket as its URL fragment says
 * and records every event (open with the negotiated subprotocol, messages, error, close
 * with its code) in `window.wsEvents` and in the DOM — the page's own signal the tests
 * wait on. Parameters ride in the fragment so that none of them (a token) reaches a server:
 *   #ws=/app/ws            where to connect (relative to the page: ws: or wss: follows it)
 *   &protocol=chat.v1      a subprotocol to offer (repeatable)
 *   &bearer=TOKEN          offer TOKEN in the Kubernetes bearer subprotocol form as well
 *   &send=hello            a message to send once open (repeatable)
 *   &sendBytes=N           then a text message of N bytes
 *   &warm=URL              fetch URL (no-cors) first: a page of another origin then holds a
 *                          connection to the gateway, which Chromium reuses for the socket
 *                          when it is HTTP/2 (RFC 8441), as it would for the gateway's page
 */
export const SOCKET_PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8" />
<title>wsgate browser test</title>
<ol id="log"></ol>
<script>
  const params = new URLSearchParams(location.hash.slice(1));
  const events = (window.wsEvents = []);
  function record(event) {
    events.push(event);
    const li = document.createElement("li");
    li.dataset.type = event.type;
    li.textContent = JSON.stringify(event);
    document.getElementById("log").append(li);
  }
  function base64url(text) {
    return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  }
  const target = new URL(params.get("ws") || "ws", location.href);
  if (target.protocol === "http:") target.protocol = "ws:";
  if (target.protocol === "https:") target.protocol = "wss:";
  const protocols = params.getAll("protocol");
  if (params.has("bearer")) protocols.push("base64url.bearer.authorization.k8s.io." + base64url(params.get("bearer")));
  async function warm() {
    if (params.has("warm")) await fetch(params.get("warm"), { mode: "no-cors", credentials: "include" }).catch(() => {});
  }
  warm().then(() => {
  const ws = new WebSocket(target, protocols);
  ws.onopen = () => {
    record({ type: "open", protocol: ws.protocol, extensions: ws.extensions });
    for (const message of params.getAll("send")) ws.send(message);
    if (params.has("sendBytes")) ws.send("x".repeat(Number(params.get("sendBytes"))));
  };
  ws.onmessage = (m) => record({ type: "message", data: String(m.data) });
  ws.onerror = () => record({ type: "error" });
  ws.onclose = (c) => record({ type: "close", code: c.code, reason: c.reason, wasClean: c.wasClean });
  });
</script>
</html>
`;

/** One event the page recorded. */
export type PageEvent =
  | { type: "open"; protocol: string; extensions: string }
  | { type: "message"; data: string }
  | { type: "error" }
  | { type: "close"; code: number; reason: string; wasClean: boolean };

/** Builds the fragment for SOCKET_PAGE. */
export function socketFragment(options: {
  ws: string;
  protocols?: readonly string[];
  bearer?: string;
  send?: readonly string[];
  sendBytes?: number;
  warm?: string;
}): string {
  const p = new URLSearchParams({ ws: options.ws });
  for (const protocol of options.protocols ?? []) p.append("protocol", protocol);
  if (options.bearer !== undefined) p.set("bearer", options.bearer);
  for (const message of options.send ?? []) p.append("send", message);
  if (options.sendBytes !== undefined) p.set("sendBytes", String(options.sendBytes));
  if (options.warm !== undefined) p.set("warm", options.warm);
  return `#${p.toString()}`;
}
