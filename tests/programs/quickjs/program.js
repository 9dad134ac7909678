// Exercises the interpreter: closures, classes, generators, regular expressions, JSON, typed
// arrays, sorting, string formatting. The completion value is printed as JSON.
class Matrix {
  constructor(n) { this.n = n; this.a = new Float64Array(n * n); }
  static identity(n) { const m = new Matrix(n); for (let i = 0; i < n; i++) m.a[i * n + i] = 1; return m; }
  mul(o) {
    const n = this.n, r = new Matrix(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0; for (let k = 0; k < n; k++) s += this.a[i * n + k] * o.a[k * n + j];
      r.a[i * n + j] = s;
    }
    return r;
  }
}
function* primes(limit) {
  const sieve = new Uint8Array(limit);
  for (let i = 2; i < limit; i++) if (!sieve[i]) { yield i; for (let j = i * i; j < limit; j += i) sieve[j] = 1; }
}
const m = Matrix.identity(8); for (let i = 0; i < 64; i++) m.a[i] += i % 7;
const p = m.mul(m).mul(m);
const words = "the quick brown fox jumps over the lazy dog the end".split(" ");
const counts = words.reduce((c, w) => (c[w] = (c[w] || 0) + 1, c), {});
({
  primes: [...primes(100)].length,
  trace: p.a.filter((_, i) => i % 9 === 0).reduce((s, x) => s + x, 0),
  counts: Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 3),
  emails: "ada@example.org, bob@mail.test".match(/[a-z]+@[a-z.]+/g),
  fixed: (1234.5678).toFixed(2), exp: (0.000123).toExponential(1),
  json: JSON.parse('{"a":[1,2,{"b":null}]}').a[2],
  closures: [1, 2, 3].map(x => y => x * y).map(f => f(10)),
});
