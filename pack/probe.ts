/**
 * `probe.js` of the GPU check pack: what Deno's WebGPU finds on this machine, as JSON on stdout.
 * Everything `adapter.info` exposes is kept, and the exact error when there is no adapter, since
 * that is what a person reading the results of a sealed machine needs.
 *
 * @module
 */
import { ensureRuntimeDir, probeWebGpu } from "@simclr/backend-gpu";

/** The probe's JSON: the adapter as `auto` judges it, plus the raw `adapter.info` fields. */
export interface ProbeReport {
  /** Whether `navigator.gpu` exists in this Deno. */
  navigatorGpu: boolean;
  /** `probeWebGpu`'s verdict, or null without an adapter. */
  adapter: { description: string; software: boolean } | null;
  /** `adapter.info` as Deno fills it (vendor, architecture, device, description, …). */
  info: Record<string, unknown> | null;
  /** The exact error text when the probe threw. */
  error: string | null;
}

/** Runs the probe; never throws. */
export async function probeReport(): Promise<ProbeReport> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  const report: ProbeReport = {
    navigatorGpu: gpu !== undefined,
    adapter: null,
    info: null,
    error: null,
  };
  try {
    ensureRuntimeDir();
    report.adapter = await probeWebGpu();
    const raw = await gpu?.requestAdapter({ powerPreference: "high-performance" });
    if (raw) {
      const info = raw.info as unknown as Record<string, unknown>;
      report.info = {};
      for (
        const key of [
          "vendor",
          "architecture",
          "device",
          "description",
          "isFallbackAdapter",
          "subgroupMinSize",
          "subgroupMaxSize",
        ]
      ) report.info[key] = info[key];
      report.info.maxBufferSize = raw.limits.maxBufferSize;
      report.info.maxStorageBufferBindingSize = raw.limits.maxStorageBufferBindingSize;
    } else if (report.adapter === null) {
      report.error = "navigator.gpu.requestAdapter() returned null (no Vulkan/Metal/DX12 adapter)";
    }
  } catch (e) {
    report.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  return report;
}

if (import.meta.main) console.log(JSON.stringify(await probeReport(), null, 2));
