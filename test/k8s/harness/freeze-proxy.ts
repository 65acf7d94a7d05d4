/**
 * A TCP proxy in front of the API server that can go silent: while frozen it
 * keeps every connection open and accepts new ones, but forwards nothing — the
 * black hole of a half-dead load balancer or a partitioned network, which no
 * connection error ever reports.
 */
import net from "node:net";

export interface FreezableProxy {
  readonly port: number;
  freeze(): void;
  /** Forwards everything held back and resumes. */
  thaw(): void;
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  upstream: net.Socket | undefined;
  readonly toUpstream: Buffer[];
  readonly toClient: Buffer[];
}

export async function startFreezableProxy(targetPort: number): Promise<FreezableProxy> {
  let frozen = false;
  const pairs = new Set<Pair>();

  const connectUpstream = (pair: Pair): void => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    pair.upstream = upstream;
    upstream.on("data", (d: Buffer) => (frozen ? pair.toClient.push(d) : pair.client.write(d)));
    upstream.on("error", () => pair.client.destroy());
    upstream.on("close", () => pair.client.destroy());
    for (const d of pair.toUpstream.splice(0)) upstream.write(d);
  };

  const server = net.createServer((client) => {
    const pair: Pair = { client, upstream: undefined, toUpstream: [], toClient: [] };
    pairs.add(pair);
    client.on("data", (d: Buffer) =>
      frozen || !pair.upstream ? pair.toUpstream.push(d) : pair.upstream.write(d),
    );
    client.on("error", () => pair.upstream?.destroy());
    client.on("close", () => {
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    if (!frozen) connectUpstream(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

  return {
    port: (server.address() as net.AddressInfo).port,
    freeze() {
      frozen = true;
    },
    thaw() {
      frozen = false;
      for (const pair of pairs) {
        if (!pair.upstream) {
          connectUpstream(pair);
          continue;
        }
        for (const d of pair.toUpstream.splice(0)) pair.upstream.write(d);
        for (const d of pair.toClient.splice(0)) pair.client.write(d);
      }
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
