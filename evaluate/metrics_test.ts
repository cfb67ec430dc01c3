import assert from "node:assert/strict";
import { Rng } from "@simclr/core";
import { hungarian } from "./hungarian.ts";
import {
  adjustedRandIndex,
  clusteringAccuracy,
  contingencyTable,
  normalizedMutualInformation,
} from "./metrics.ts";
import { randomLabels } from "./test_data.ts";

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

/** Minimum (or maximum) over all injective row→column maps, by enumeration. */
function bruteForce(m: number[], rows: number, cols: number, maximize: boolean): number {
  let best = maximize ? -Infinity : Infinity;
  const used = new Array(cols).fill(false);
  const rec = (r: number, acc: number) => {
    if (r === Math.min(rows, cols) && rows <= cols) {
      best = maximize ? Math.max(best, acc) : Math.min(best, acc);
      return;
    }
    for (let c = 0; c < cols; c++) {
      if (used[c]) continue;
      used[c] = true;
      rec(r + 1, acc + m[r * cols + c]);
      used[c] = false;
    }
  };
  if (rows <= cols) rec(0, 0);
  else {
    const t: number[] = [];
    for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) t.push(m[r * cols + c]);
    return bruteForce(t, cols, rows, maximize);
  }
  return best;
}

Deno.test("hungarian: 3×3 where greedy picks fail", () => {
  // Row-wise greedy (and smallest-entry-first) take 1, 4, 9 = 14; the optimum is the
  // anti-diagonal 3 + 4 + 3 = 10, and it is unique.
  const cost = [1, 2, 3, 2, 4, 6, 3, 6, 9];
  const a = hungarian(cost, 3, 3);
  assert.deepEqual([...a.rowToColumn], [2, 1, 0]);
  assert.deepEqual([...a.columnToRow], [2, 1, 0]);
  assert.equal(a.total, 10);
});

Deno.test("hungarian: maximisation where greedy fails", () => {
  // Greedy maximum takes 10 then 1 and 1 = 12; the optimum is 9 + 9 + 1 = 19.
  const weights = [10, 9, 1, 9, 1, 1, 1, 1, 1];
  const a = hungarian(weights, 3, 3, { maximize: true });
  assert.equal(a.total, 19);
  assert.equal(a.rowToColumn[0], 1);
  assert.equal(a.rowToColumn[1], 0);
  assert.equal(a.rowToColumn[2], 2);
});

Deno.test("hungarian: rectangular matrices both ways", () => {
  // 2×3: the pairings are (row0,row1) → (1,0) = 3 (unique best), (0,1) = 4, (2,1) = 6, (1,2) = 6,
  // (2,0) = 8, (0,2) = 9.
  const wide = [4, 1, 6, 2, 0, 5];
  const a = hungarian(wide, 2, 3);
  assert.deepEqual([...a.rowToColumn], [1, 0]);
  assert.deepEqual([...a.columnToRow], [1, 0, -1]);
  assert.equal(a.total, 3);
  // The transpose (3×2) has the same optimum with the dummy column on row 2.
  const tall = [4, 2, 1, 0, 6, 5];
  const b = hungarian(tall, 3, 2);
  assert.deepEqual([...b.rowToColumn], [1, 0, -1]);
  assert.deepEqual([...b.columnToRow], [1, 0]);
  assert.equal(b.total, 3);
});

Deno.test("hungarian: matches enumeration on random matrices", () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 60; trial++) {
    const rows = 1 + rng.int(6);
    const cols = 1 + rng.int(6);
    const m = Array.from({ length: rows * cols }, () => Math.round(rng.range(-20, 50)));
    for (const maximize of [false, true]) {
      const a = hungarian(m, rows, cols, { maximize });
      assert.equal(a.total, bruteForce(m, rows, cols, maximize), `${rows}×${cols} ${maximize}`);
      // The assignment is a valid partial permutation that realises the total.
      const seen = new Set<number>();
      let total = 0;
      let matched = 0;
      for (let r = 0; r < rows; r++) {
        const c = a.rowToColumn[r];
        if (c < 0) continue;
        assert.ok(!seen.has(c));
        seen.add(c);
        assert.equal(a.columnToRow[c], r);
        total += m[r * cols + c];
        matched++;
      }
      assert.equal(matched, Math.min(rows, cols));
      assert.equal(total, a.total);
    }
  }
});

Deno.test("hungarian: rejects bad input", () => {
  assert.throws(() => hungarian([1, 2, 3], 2, 2), /expected 2·2 = 4 entries/);
  assert.throws(() => hungarian([1, NaN, 3, 4], 2, 2), /entry \(0, 1\) is NaN/);
});

Deno.test("contingencyTable counts pairs", () => {
  const t = contingencyTable([0, 0, 1, 1, 2], [1, 1, 0, 1, 0]);
  assert.equal(t.rows, 3);
  assert.equal(t.cols, 2);
  assert.deepEqual([...t.counts], [0, 2, 1, 1, 1, 0]);
  assert.throws(() => contingencyTable([0, 1], [0]), /expected 2 labels, got 1/);
  assert.throws(() => contingencyTable([0, -1], [0, 1]), /label 1 is -1/);
});

Deno.test("NMI: identical, relabelled, independent and a hand-computed case", () => {
  const a = [0, 0, 1, 1, 2, 2, 2, 0];
  close(normalizedMutualInformation(a, a), 1, 1e-12, "identical");
  const relabelled = a.map((v) => [2, 0, 1][v]);
  close(normalizedMutualInformation(a, relabelled), 1, 1e-12, "relabelled");
  // i mod 2 and ⌊i/2⌋ mod 2 over 0..7: every cell of the 2×2 table holds 2 = (4·4)/8, so the
  // partitions are exactly independent and the mutual information is exactly 0.
  const u = Array.from({ length: 8 }, (_, i) => i % 2);
  const v = Array.from({ length: 8 }, (_, i) => Math.floor(i / 2) % 2);
  assert.equal(normalizedMutualInformation(u, v), 0);
  // U = [0,0,1,1], V = [0,0,1,2]: H(U) = ln 2, H(V) = 1.5 ln 2, MI = ½ln2 + ¼ln2 + ¼ln2 = ln 2,
  // so NMI = ln2 / (1.25 ln 2) = 0.8.
  close(normalizedMutualInformation([0, 0, 1, 1], [0, 0, 1, 2]), 0.8, 1e-12, "hand case");
  // Symmetric in its arguments.
  close(normalizedMutualInformation([0, 0, 1, 2], [0, 0, 1, 1]), 0.8, 1e-12, "swapped");
  // Single-group partitions on both sides count as identical, as in scikit-learn.
  assert.equal(normalizedMutualInformation([3, 3, 3], [1, 1, 1]), 1);
});

Deno.test("NMI of large random partitions is near 0", () => {
  const nmi = normalizedMutualInformation(randomLabels(20000, 10, 1), randomLabels(20000, 10, 2));
  // Expected chance MI ≈ (10−1)²/(2·20000) nats ≈ 0.002; NMI ≈ 0.002 / ln 10 ≈ 0.001.
  assert.ok(nmi < 0.005, `random NMI ${nmi}`);
});

Deno.test("ARI: hand-computed cases, identical and random", () => {
  // U = [0,0,1,1], V = [0,0,1,2] (scikit-learn's documented 0.57): cells 2,1,1 → Σ C(nij,2) = 1;
  // rows 2,2 → 2; columns 2,1,1 → 1; C(4,2) = 6; E = 2·1/6 = 1/3; max = 1.5;
  // ARI = (1 − 1/3) / (1.5 − 1/3) = 4/7.
  close(adjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 2]), 4 / 7, 1e-12, "4/7 case");
  // U = [0,0,1,1,2,2], V = [0,0,0,1,1,1]: cells 2,1,1,2 → 2; U sizes 2,2,2 → 3; V sizes 3,3 → 6;
  // C(6,2) = 15; E = 3·6/15 = 1.2; max = 4.5; ARI = 0.8 / 3.3 = 8/33.
  close(adjustedRandIndex([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1]), 8 / 33, 1e-12, "8/33 case");
  const a = randomLabels(500, 7, 3);
  close(adjustedRandIndex(a, a), 1, 1e-12, "identical");
  close(adjustedRandIndex(a, Array.from(a, (v) => 6 - v)), 1, 1e-12, "relabelled");
  const ari = adjustedRandIndex(randomLabels(20000, 10, 4), randomLabels(20000, 10, 5));
  assert.ok(Math.abs(ari) < 0.005, `random ARI ${ari}`);
  // All-apart vs all-apart: the denominator vanishes and the partitions agree.
  assert.equal(adjustedRandIndex([0, 1, 2], [2, 0, 1]), 1);
});

Deno.test("clusteringAccuracy uses the best one-to-one matching", () => {
  // Clusters 0,1,2 mostly hold classes 2,0,1; two points are misplaced.
  const clusters = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
  const classes = [2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 1];
  const r = clusteringAccuracy(clusters, classes);
  assert.deepEqual([...r.clusterToClass], [2, 0, 1]);
  assert.equal(r.correct, 10);
  close(r.accuracy, 10 / 12, 1e-12, "accuracy");
  // Two clusters that both prefer class 0 cannot both take it: one-to-one matching gives
  // cluster 0 → class 0 (3 points) and cluster 1 → class 1 (1 point) = 4 of 6.
  const s = clusteringAccuracy([0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 1]);
  assert.equal(s.correct, 4);
  // More clusters than classes: the extra cluster is unmatched and its points count as wrong.
  const t = clusteringAccuracy([0, 0, 1, 1, 2], [0, 0, 1, 1, 1]);
  assert.equal(t.correct, 4);
  assert.equal(t.clusterToClass[2], -1);
});
