import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import type { FromWorker, ToWorker } from "./protocol.js";
import { WorkerStatsRequests } from "./worker-stats.js";

type StatsMessage = Extract<FromWorker, { type: "stats" }>;

const ports: MessagePort[] = [];
afterEach(() => {
  for (const p of ports.splice(0)) p.close();
});

/** A worker's side of a real message channel: `reply` decides what it answers to each question. */
function fakeWorkerPort(reply: (id: number) => StatsMessage | undefined): {
  port: MessagePort;
  questions: number[];
  answerWith: (requests: WorkerStatsRequests, worker: number) => void;
} {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  const questions: number[] = [];
  let requests: WorkerStatsRequests | undefined;
  let index = 0;
  port2.on("message", (m: ToWorker) => {
    if (m.type !== "stats") return;
    questions.push(m.id);
    const answer = reply(m.id);
    if (answer) port2.postMessage(answer);
  });
  port1.on("message", (m: StatsMessage) => requests?.answer(index, m));
  return {
    port: port1,
    questions,
    answerWith: (r, worker) => {
      requests = r;
      index = worker;
    },
  };
}

function stats(id: number, connections: number): StatsMessage {
  return { type: "stats", id, metrics: [{ name: `m${connections}` }], connections, generation: 3 };
}

describe("WorkerStatsRequests", () => {
  it("gives each worker its own answer, so that one scrape never shows a worker another's numbers", async () => {
    const requests = new WorkerStatsRequests();
    const a = fakeWorkerPort((id) => stats(id, 7));
    const b = fakeWorkerPort((id) => stats(id, 11));
    a.answerWith(requests, 0);
    b.answerWith(requests, 1);
    const targets = [
      { index: 0, worker: a.port, generation: 3 },
      { index: 1, worker: b.port, generation: 3 },
    ];
    // Two scrapes in flight at once: four questions, four distinct ids.
    const [first, second] = await Promise.all([requests.all(targets), requests.all(targets)]);
    for (const answers of [first, second]) {
      expect(answers.map((s) => [s.worker, s.connections])).toEqual([
        [0, 7],
        [1, 11],
      ]);
    }
    expect(new Set([...a.questions, ...b.questions]).size).toBe(4);
  });

  it("leaves out a worker that does not answer, so that one stuck thread does not stall /metrics", async () => {
    const requests = new WorkerStatsRequests(100);
    const silent = fakeWorkerPort(() => undefined);
    const live = fakeWorkerPort((id) => stats(id, 2));
    silent.answerWith(requests, 0);
    live.answerWith(requests, 1);
    const answers = await requests.all([
      { index: 0, worker: silent.port, generation: 1 },
      { index: 1, worker: live.port, generation: 1 },
    ]);
    expect(answers.map((s) => s.worker)).toEqual([1]);
    expect(silent.questions).toHaveLength(1);
    // Its answer, arriving after the scrape gave up on it, settles nothing and throws nothing.
    expect(() => requests.answer(0, stats(silent.questions[0]!, 9))).not.toThrow();
  });

  it("serves a drained worker's final metrics without asking, so that its counters do not fall to zero during shutdown", async () => {
    const requests = new WorkerStatsRequests();
    const gone = fakeWorkerPort(() => {
      throw new Error("a drained worker must not be asked");
    });
    const answers = await requests.all([
      { index: 4, worker: gone.port, generation: 6, finalMetrics: [{ name: "final" }] },
    ]);
    expect(answers).toEqual([{ worker: 4, metrics: [{ name: "final" }], connections: 0, generation: 6 }]);
    expect(gone.questions).toEqual([]);
  });

  it("keeps a worker's /status part when it sends one", async () => {
    const requests = new WorkerStatsRequests();
    const w = fakeWorkerPort((id) => ({ ...stats(id, 1), status: { opens: 5 } }));
    w.answerWith(requests, 2);
    const [answer] = await requests.all([{ index: 2, worker: w.port, generation: 3 }]);
    expect(answer).toMatchObject({ worker: 2, status: { opens: 5 } });
  });
});
