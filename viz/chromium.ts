/**
 * Loads a local HTML file in headless Chromium and reports console errors, failed or external
 * requests and a few layout facts, talking the DevTools protocol over Deno's built-in WebSocket
 * (no Playwright/Puppeteer dependency). Used by the report test and the demo.
 *
 * @module
 */
import { pathToFileURL } from "node:url";

/** Where Debian installs Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** What the page did while loading. */
export interface PageReport {
  /** Console errors, uncaught exceptions and error-level log entries (CSP violations, failed loads). */
  errors: string[];
  /** Requests to anything other than the file itself and `data:` URIs. */
  externalRequests: string[];
  /** Result of evaluating `probe` in the page (JSON-serialisable). */
  probe: unknown;
  /** Full-page PNG screenshot when asked for. */
  screenshot?: Uint8Array;
}

/** Whether Chromium is installed at {@link CHROMIUM_PATH}. */
export function chromiumAvailable(): boolean {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

/** A minimal DevTools-protocol client: request/response by id plus an event callback. */
class CdpClient {
  #ws: WebSocket;
  #nextId = 1;
  #pending = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  onEvent: (message: CdpMessage) => void = () => {};

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const message = JSON.parse(String(e.data)) as CdpMessage;
      if (message.id !== undefined) {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) pending?.reject(new Error(`CDP: ${message.error.message}`));
        else pending?.resolve(message.result ?? {});
      } else {
        this.onEvent(message);
      }
    };
    ws.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error("CDP: connection closed"));
      this.#pending.clear();
    };
  }

  static connect(url: string): Promise<CdpClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(new CdpClient(ws));
      ws.onerror = () => reject(new Error(`CDP: could not connect to ${url}`));
    });
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    });
  }

  close(): void {
    this.#ws.close();
  }
}

/** Reads Chromium's stderr in the background until the DevTools WebSocket URL appears. */
function watchStderr(
  stream: ReadableStream<Uint8Array>,
): { url: Promise<string>; text: () => string } {
  let text = "";
  const url = (async () => {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let found: string | undefined;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const m = found ? null : /DevTools listening on (ws:\/\/\S+)/.exec(text);
      if (m) {
        found = m[1];
        // Keep draining in the background so Chromium never blocks on a full pipe.
        (async () => {
          for (;;) {
            const next = await reader.read().catch(() => ({ done: true, value: undefined }));
            if (next.done) break;
            text += decoder.decode(next.value, { stream: true });
          }
        })();
        return found;
      }
    }
    throw new Error(`chromium exited before printing its DevTools URL:\n${text.slice(-2000)}`);
  })();
  return { url, text: () => text };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`chromium: timed out after ${ms} ms ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Opens `htmlPath` in a fresh headless Chromium (own temporary profile, no network services),
 * waits for the load event plus `settleMs`, evaluates `probe` (a JS expression) and closes it.
 */
export async function loadInChromium(
  htmlPath: string,
  options: {
    probe?: string;
    screenshot?: boolean;
    clip?: { x: number; y: number; width: number; height: number };
    width?: number;
    settleMs?: number;
    timeoutMs?: number;
  } = {},
): Promise<PageReport> {
  const userDataDir = await Deno.makeTempDir({ prefix: "viz-chromium-" });
  const child = new Deno.Command(CHROMIUM_PATH, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--mute-audio",
      `--user-data-dir=${userDataDir}`,
      "--remote-debugging-port=0",
      "--remote-allow-origins=*",
      `--window-size=${options.width ?? 1280},900`,
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = watchStderr(child.stderr);
  const timeoutMs = options.timeoutMs ?? 30_000;
  let client: CdpClient | undefined;
  try {
    const browserUrl = await withTimeout(stderr.url, timeoutMs, "waiting for DevTools");
    client = await CdpClient.connect(browserUrl);
    const errors: string[] = [];
    const externalRequests: string[] = [];
    const fileUrl = pathToFileURL(await Deno.realPath(htmlPath)).href;
    let loaded!: () => void;
    const loadFired = new Promise<void>((resolve) => (loaded = resolve));
    client.onEvent = (m) => {
      const p = m.params ?? {};
      switch (m.method) {
        case "Runtime.consoleAPICalled":
          if (p.type === "error" || p.type === "assert") {
            const args = (p.args as { value?: unknown; description?: string }[] ?? [])
              .map((a) => String(a.value ?? a.description ?? ""));
            errors.push(`console.${p.type}: ${args.join(" ")}`);
          }
          break;
        case "Runtime.exceptionThrown":
          errors.push(`exception: ${JSON.stringify(p.exceptionDetails)}`);
          break;
        case "Log.entryAdded": {
          const entry = p.entry as { level: string; text: string; url?: string };
          if (entry.level === "error") errors.push(`log: ${entry.text} ${entry.url ?? ""}`);
          break;
        }
        case "Network.requestWillBeSent": {
          const url = String((p.request as { url: string }).url);
          if (url !== fileUrl && !url.startsWith("data:")) externalRequests.push(url);
          break;
        }
        case "Network.loadingFailed":
          errors.push(`network: ${p.errorText} (${p.type})`);
          break;
        case "Page.loadEventFired":
          loaded();
          break;
      }
    };
    const { targetId } = await client.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await client.send("Target.attachToTarget", { targetId, flatten: true });
    const session = String(sessionId);
    for (const domain of ["Runtime", "Log", "Network", "Page"]) {
      await client.send(`${domain}.enable`, {}, session);
    }
    await client.send("Page.navigate", { url: fileUrl }, session);
    await withTimeout(loadFired, timeoutMs, `loading ${fileUrl}`);
    await new Promise((r) => setTimeout(r, options.settleMs ?? 300));
    let probe: unknown = undefined;
    if (options.probe) {
      const evaluated = await client.send("Runtime.evaluate", {
        expression: options.probe,
        returnByValue: true,
      }, session);
      if (evaluated.exceptionDetails) {
        throw new Error(`probe threw: ${JSON.stringify(evaluated.exceptionDetails)}`);
      }
      probe = (evaluated.result as { value?: unknown }).value;
    }
    let screenshot: Uint8Array | undefined;
    if (options.screenshot) {
      const metrics = await client.send("Page.getLayoutMetrics", {}, session);
      const content = metrics.cssContentSize as { width: number; height: number };
      const clip = options.clip ?? { x: 0, y: 0, width: content.width, height: content.height };
      const shot = await client.send("Page.captureScreenshot", {
        format: "png",
        captureBeyondViewport: true,
        clip: { ...clip, scale: 1 },
      }, session);
      screenshot = Uint8Array.from(atob(String(shot.data)), (c) => c.charCodeAt(0));
    }
    return { errors, externalRequests, probe, screenshot };
  } finally {
    await client?.send("Browser.close").catch(() => {});
    client?.close();
    const exited = await withTimeout(child.status, 5_000, "closing").then(() => true, () => false);
    if (!exited) {
      child.kill("SIGKILL");
      await child.status;
    }
    await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
  }
}
