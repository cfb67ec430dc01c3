/**
 * Input checks shared by the charts: bad input fails early with a message naming the field and
 * what was expected, instead of producing a silently wrong picture.
 *
 * @module
 */

/** Throws unless `value` is a finite number. */
export function requireFinite(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new TypeError(`viz: ${field} must be a finite number, got ${String(value)}`);
  }
  return value;
}

/** Throws unless `values` is a non-empty array (or typed array). */
export function requireNonEmpty<T extends ArrayLike<unknown>>(field: string, values: T): T {
  if (values === undefined || values === null || typeof values.length !== "number") {
    throw new TypeError(`viz: ${field} must be an array, got ${String(values)}`);
  }
  if (values.length === 0) throw new RangeError(`viz: ${field} is empty; nothing to plot`);
  return values;
}

/** Throws unless `matrix` has `rows` rows of `cols` finite non-negative numbers. */
export function requireCountMatrix(
  field: string,
  matrix: number[][],
  rows: number | undefined,
  cols: number,
): void {
  if (!Array.isArray(matrix) || matrix.length === 0) {
    throw new TypeError(`viz: ${field} must be a non-empty array of rows`);
  }
  if (rows !== undefined && matrix.length !== rows) {
    throw new RangeError(`viz: ${field} must have ${rows} rows, got ${matrix.length}`);
  }
  matrix.forEach((row, r) => {
    if (!Array.isArray(row) || row.length !== cols) {
      throw new RangeError(
        `viz: ${field}[${r}] must have ${cols} entries (one per class), got ${row?.length}`,
      );
    }
    row.forEach((v, c) => {
      if (!Number.isFinite(v) || v < 0) {
        throw new RangeError(`viz: ${field}[${r}][${c}] must be a finite count ≥ 0, got ${v}`);
      }
    });
  });
}

/** Throws unless every label is an integer class index in [0, classCount). */
export function requireLabels(field: string, labels: ArrayLike<number>, classCount: number): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (!Number.isInteger(v) || v < 0 || v >= classCount) {
      throw new RangeError(
        `viz: ${field}[${i}] = ${v} is not a class index in 0..${classCount - 1}`,
      );
    }
  }
}

/** Throws unless `classNames` is a list of 1..10 strings (the palette has ten colours). */
export function requireClassNames(classNames: string[]): void {
  if (!Array.isArray(classNames) || classNames.length === 0 || classNames.length > 10) {
    throw new RangeError(
      `viz: classNames must list 1 to 10 class names, got ${
        Array.isArray(classNames) ? classNames.length : String(classNames)
      }`,
    );
  }
  classNames.forEach((name, i) => {
    if (typeof name !== "string") throw new TypeError(`viz: classNames[${i}] must be a string`);
  });
}
