/**
 * Colours used by every chart, so a class or a model variant has the same colour everywhere.
 *
 * Class palette choice: the eight Okabe–Ito colours (Okabe & Ito 2008, "Color Universal Design"),
 * designed to stay distinguishable under the common colour-vision deficiencies, plus two extra
 * colours from Paul Tol's colour-blind-safe "muted" scheme (wine #882255 and a mid grey #999999)
 * to reach ten. Okabe–Ito yellow (#F0E442) is darkened slightly to #E3D026 so small scatter points
 * stay visible on white. No ten-colour palette is fully separable for every viewer, so every
 * chart also labels classes with text (legend entries, axis tick labels), never by colour alone.
 *
 * @module
 */

/** Ten class colours (Okabe–Ito 8 + Tol wine + grey), indexed by class label. */
export const CLASS_COLORS: readonly string[] = [
  "#E69F00", // orange
  "#56B4E9", // sky blue
  "#009E73", // bluish green
  "#E3D026", // yellow (Okabe–Ito #F0E442, darkened for contrast on white)
  "#0072B2", // blue
  "#D55E00", // vermillion
  "#CC79A7", // reddish purple
  "#000000", // black
  "#882255", // wine (Tol muted)
  "#999999", // grey
];

/** Colour of each evaluated representation in grouped bars and tables. */
export const VARIANT_COLORS: Readonly<Record<string, string>> = {
  "simclr": "#0072B2",
  "raw-pixels": "#E69F00",
  "random-encoder": "#999999",
};

/** Human-readable variant names. */
export const VARIANT_LABELS: Readonly<Record<string, string>> = {
  "simclr": "SimCLR",
  "raw-pixels": "Raw pixels",
  "random-encoder": "Random encoder",
};

/** Pass / fail colours for the verify chart (blue / vermillion: safe for red–green deficiency). */
export const STATUS_COLORS = { ok: "#0072B2", fail: "#D55E00" } as const;

/** Colour of class `label`; throws when the label is outside the ten-class palette. */
export function classColor(label: number): string {
  const color = CLASS_COLORS[label];
  if (color === undefined) {
    throw new RangeError(
      `viz: class label ${label} has no colour (palette covers labels 0..${
        CLASS_COLORS.length - 1
      })`,
    );
  }
  return color;
}

/** Colour of a variant by name, falling back to dark grey for unknown names. */
export function variantColor(name: string): string {
  return VARIANT_COLORS[name] ?? "#555555";
}

/** Display label of a variant by name, falling back to the name itself. */
export function variantLabel(name: string): string {
  return VARIANT_LABELS[name] ?? name;
}
