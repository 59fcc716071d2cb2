// Small statistics helpers: exact percentiles of recorded samples, and the
// Prometheus text format (sample values, histogram quantiles as Grafana computes them).

/** Exact percentiles (nearest rank) of unsorted numbers; NaN when empty. */
export function percentiles(values, ps = [50, 99, 99.9]) {
  if (values.length === 0) return Object.fromEntries(ps.map((p) => [p, NaN]));
  const s = Float64Array.from(values).sort();
  // Nearest rank; the epsilon keeps 99.9 % of 1000 at rank 999 despite binary floats.
  const at = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length - 1e-9) - 1))];
  return Object.fromEntries(ps.map((p) => [p, at(p)]));
}

/** Parses Prometheus text exposition into [{name, labels, value}]. */
export function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples of `name` whose labels include `match`. */
export function sumOf(samples, name, match = {}) {
  let s = 0;
  for (const x of samples) {
    if (x.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => x.labels[k] === v)) s += x.value;
  }
  return s;
}

/** Sums per value of one label. */
export function sumBy(samples, name, label) {
  const out = new Map();
  for (const x of samples) if (x.name === name) out.set(x.labels[label], (out.get(x.labels[label]) ?? 0) + x.value);
  return out;
}

/**
 * histogram_quantile(q, sum by (le) (name_bucket{match})): linear interpolation inside
 * the bucket, as Prometheus does. Returns NaN without observations.
 */
export function histogramQuantile(samples, name, q, match = {}) {
  const byLe = new Map();
  for (const x of samples) {
    if (x.name !== `${name}_bucket`) continue;
    if (!Object.entries(match).every(([k, v]) => x.labels[k] === v)) continue;
    const le = x.labels.le === '+Inf' ? Infinity : Number(x.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + x.value);
  }
  const buckets = [...byLe.entries()].sort((a, b) => a[0] - b[0]);
  if (buckets.length === 0) return NaN;
  const total = buckets[buckets.length - 1][1];
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1e-12, count - prevCount));
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** Least-squares slope of y over x. */
export function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
