/**
 * Our models' weights as PyTorch's modules hold them, both ways. The torch modules are the ones
 * in `bench/peer_torch.py` (plain `nn.Sequential`s, so a state-dict name is the layer's index),
 * which `bench/load_torch.py` builds and loads with `load_state_dict(strict=True)`.
 *
 * Conventions that differ: we keep images NHWC and conv filters HWIO `[kh,kw,in,out]`, torch
 * NCHW and OIHW `[out,in,kh,kw]`; our linear weights are `[in,out]`, torch's `[out,in]`; our batch
 * norm calls its scale and shift `gamma`/`beta`, torch `weight`/`bias`, and torch also saves an
 * int64 `num_batches_tracked`. Our `Flatten` flattens HWC, torch's CHW, so the first linear layer
 * after a flatten (the `simple` projector) has its input axis permuted, and so do that encoder's
 * features.
 *
 * @module
 */
import type { Graph } from "./autograd.ts";
import { BasicBlock, type SimclrModel } from "./models.ts";
import { BatchNorm, Conv2d, Lambda, Linear, type Module, Sequential } from "./nn.ts";
import type { SafeTensor, SafetensorsFile } from "./safetensors.ts";

/** One tensor of a torch state dict and where it lives in our model. */
export interface TorchEntry {
  /** The torch state-dict key, e.g. `encoder.4.weight`. */
  torchName: string;
  /** Our param or buffer name; absent for `num_batches_tracked`, which we do not keep. */
  ours?: string;
  kind: "param" | "buffer" | "count";
  /** Shape in torch's layout. */
  torchShape: number[];
  /** Our shape viewed as `view`, transposed by `perm`, is torch's layout (absent: same layout). */
  view?: number[];
  perm?: number[];
}

/** Spatial shape `[h,w,c]` flattened before the first projector layer, for models that flatten. */
function flattenedFrom(model: SimclrModel): number[] | undefined {
  return model.name === "simple" ? [8, 8, model.featureDim / 64] : undefined;
}

/** Every tensor of the model's torch state dict, in torch's order (encoder, then projector). */
export function torchLayout(model: SimclrModel): TorchEntry[] {
  const out: TorchEntry[] = [];
  const flat = flattenedFrom(model);
  const walk = (m: Module, prefix: string, afterFlatten: boolean) => {
    if (m instanceof Sequential) {
      m.layers.forEach((l, i) => walk(l, `${prefix}.${i}`, afterFlatten && i === 0));
    } else if (m instanceof BasicBlock) {
      walk(m.main, `${prefix}.main`, false);
      if (m.shortcut) walk(m.shortcut, `${prefix}.short`, false);
    } else if (m instanceof Conv2d) {
      const [kh, kw, ci, co] = m.weight.value.shape;
      out.push({
        torchName: `${prefix}.weight`,
        ours: m.weight.name,
        kind: "param",
        torchShape: [co, ci, kh, kw],
        perm: [3, 2, 0, 1],
      });
      if (m.bias) {
        out.push({
          torchName: `${prefix}.bias`,
          ours: m.bias.name,
          kind: "param",
          torchShape: [co],
        });
      }
    } else if (m instanceof Linear) {
      const [nIn, nOut] = m.weight.value.shape;
      const entry: TorchEntry = {
        torchName: `${prefix}.weight`,
        ours: m.weight.name,
        kind: "param",
        torchShape: [nOut, nIn],
        perm: [1, 0],
      };
      if (afterFlatten && flat) {
        // [h·w·c, out] viewed as [h,w,c,out] → [out,c,h,w]: torch's flatten order.
        entry.view = [...flat, nOut];
        entry.perm = [3, 2, 0, 1];
      }
      out.push(entry);
      if (m.bias) {
        out.push({
          torchName: `${prefix}.bias`,
          ours: m.bias.name,
          kind: "param",
          torchShape: [nOut],
        });
      }
    } else if (m instanceof BatchNorm) {
      const c = [m.channels];
      out.push(
        { torchName: `${prefix}.weight`, ours: m.gamma.name, kind: "param", torchShape: c },
        { torchName: `${prefix}.bias`, ours: m.beta.name, kind: "param", torchShape: c },
        {
          torchName: `${prefix}.running_mean`,
          ours: m.runningMean.name,
          kind: "buffer",
          torchShape: c,
        },
        {
          torchName: `${prefix}.running_var`,
          ours: m.runningVar.name,
          kind: "buffer",
          torchShape: c,
        },
        { torchName: `${prefix}.num_batches_tracked`, kind: "count", torchShape: [] },
      );
    } else if (!(m instanceof Lambda)) {
      throw new Error(`${prefix}: no PyTorch layout for module ${m.constructor.name}`);
    }
  };
  walk(model.encoder, "encoder", false);
  walk(model.projector, "projector", true);
  return out;
}

/** `data` of shape `shape` with its axes permuted: result axis i is input axis `perm[i]`. */
export function permuteAxes(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const strides = perm.map((p) => inStrides[p]);
  const out = new Float32Array(data.length);
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < idx.length; k++) src += idx[k] * strides[k];
    out[o] = data[src];
    for (let k = idx.length - 1; k >= 0; k--) {
      if (++idx[k] < outShape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

/** The inverse of a permutation. */
function inverse(perm: number[]): number[] {
  const inv = new Array(perm.length);
  perm.forEach((p, i) => inv[p] = i);
  return inv;
}

/** A tensor of our layout (e.g. a parameter's gradient) in torch's layout for `entry`. */
export function toTorch(
  entry: TorchEntry,
  data: Float32Array,
  ourShape: readonly number[],
): Float32Array {
  return entry.perm ? permuteAxes(data, entry.view ?? [...ourShape], entry.perm) : data;
}

/** Options of {@linkcode torchStateDict}. */
export interface TorchExportOptions {
  /** Include the projection head (default: encoder only). */
  projector?: boolean;
  /** Written as every batch norm's `num_batches_tracked` (one batch per training step). */
  step?: number;
}

/** Reads the model's weights and statistics into a torch state dict (host tensors). */
export async function torchStateDict(
  model: SimclrModel,
  opts: TorchExportOptions = {},
): Promise<Map<string, SafeTensor>> {
  const values = new Map(
    [...model.params(), ...model.buffers()].map((p) => [p.name, p.value] as const),
  );
  const out = new Map<string, SafeTensor>();
  for (const e of torchLayout(model)) {
    if (!opts.projector && e.torchName.startsWith("projector.")) continue;
    if (e.kind === "count") {
      out.set(e.torchName, {
        dtype: "I64",
        shape: [],
        data: new BigInt64Array([BigInt(opts.step ?? 0)]),
      });
      continue;
    }
    const t = values.get(e.ours!)!;
    out.set(e.torchName, {
      dtype: "F32",
      shape: e.torchShape,
      data: toTorch(e, await t.read(), t.shape),
    });
  }
  return out;
}

/**
 * Puts a torch state dict into `model`. Every encoder tensor must be there with torch's shape;
 * the projector is loaded when the file has one (all of it) and otherwise keeps its values.
 * Errors name `path` and the missing, unexpected or mismatched tensor.
 */
export function loadTorchStateDict(
  g: Graph,
  model: SimclrModel,
  file: SafetensorsFile,
  path: string,
): { projector: boolean } {
  const layout = torchLayout(model);
  const projector = [...file.tensors.keys()].some((k) => k.startsWith("projector."));
  const wanted = layout.filter((e) => projector || !e.torchName.startsWith("projector."));
  const known = new Set(wanted.map((e) => e.torchName));
  const unexpected = [...file.tensors.keys()].filter((k) => !known.has(k));
  if (unexpected.length > 0) {
    throw new Error(
      `${path}: unexpected tensor${unexpected.length > 1 ? "s" : ""} ${
        unexpected.slice(0, 5).map((k) => `"${k}"`).join(", ")
      }${unexpected.length > 5 ? ", …" : ""} for model ${model.name} (a different model or width?)`,
    );
  }
  const slots = new Map(
    [...model.params(), ...model.buffers()].map((p) => [p.name, p] as const),
  );
  // Check everything before replacing anything, so a bad file leaves the model as it was.
  const ready: [string, Float32Array][] = [];
  for (const e of wanted) {
    const t = file.tensors.get(e.torchName);
    if (!t) {
      throw new Error(
        `${path}: has no tensor "${e.torchName}" (model ${model.name} needs shape [${e.torchShape}])`,
      );
    }
    if (t.shape.join() !== e.torchShape.join()) {
      throw new Error(
        `${path}: "${e.torchName}" has shape [${t.shape}], model ${model.name} wants [${e.torchShape}]`,
      );
    }
    const wantType = e.kind === "count" ? "I64" : "F32";
    if (t.dtype !== wantType) {
      throw new Error(`${path}: "${e.torchName}" is ${t.dtype}, expected ${wantType}`);
    }
    if (e.kind === "count") continue;
    let data = t.data as Float32Array;
    if (e.perm) {
      // Back from torch's layout: the permuted view's shape, then the inverse permutation.
      const ourView = e.view ?? [...slots.get(e.ours!)!.value.shape];
      data = permuteAxes(data, e.perm.map((p) => ourView[p]), inverse(e.perm));
    }
    ready.push([e.ours!, data]);
  }
  const params = new Set(model.params().map((p) => p.name));
  for (const [name, data] of ready) {
    const slot = slots.get(name)!;
    const shape = [...slot.value.shape];
    const isParam = params.has(name);
    g.dispose(slot.value);
    slot.value = isParam
      ? g.keepAsVariable(g.constant(data, shape))
      : g.keep(g.constant(data, shape));
  }
  return { projector };
}

/**
 * Our encoder features `[n, d]` in the order torch's encoder gives them: the same values except
 * for a flattening encoder (`simple`), whose HWC order becomes CHW.
 */
export function featuresInTorchOrder(model: SimclrModel, features: Float32Array): Float32Array {
  const flat = flattenedFrom(model);
  if (!flat) return features;
  const n = features.length / model.featureDim;
  return permuteAxes(features, [n, ...flat], [0, 3, 1, 2]);
}
