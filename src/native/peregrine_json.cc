// Native JSON extractor: simdjson's SIMD stage 1 finds every structural character and
// token start; a small stage 2 below turns those indexes into Peregrine's node table
// (the same layout src/events/nodes.ts reads and src/events/json-parse.ts fills), with
// byte offsets into the caller's buffer and no copies of strings.
//
// Validation matches the TypeScript parser: strict RFC 8259 grammar, number syntax,
// UTF-8 and unescaped control characters (stage 1), depth <= 300; escape sequences are
// only delimited, as in Falco's parser. On any error it returns 0 and the JavaScript
// side re-parses with the TypeScript parser to report the exact same message.
//
// The same stage 1 also splits webhook bodies into event ranges for the main thread
// (splitBody, mirroring src/ingest/split.ts).
#include <napi.h>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>
#include "simdjson.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#if defined(__GNUC__)
#include <tmmintrin.h>
#define PEREGRINE_SSSE3 1
#endif
#endif

namespace {

constexpr uint8_t OBJ = 1, ARR = 2, STR = 3, NUM = 4, TRUE_ = 5, FALSE_ = 6, NULL_ = 7;
constexpr uint8_t F_VAL_ESC = 0x10, F_KEY_ESC = 0x20;
constexpr uint32_t MAX_DEPTH = 300;

// Layout of the node table buffer for `cap` nodes (see NodeTable in nodes.ts).
struct Table {
  uint8_t *kind;
  uint32_t *vs, *ve, *ks, *ke, *count;
  int32_t *first, *next;
  uint32_t cap;
  uint32_t size;
};

inline uint32_t align4(uint32_t n) { return (n + 3u) & ~3u; }

Table table_view(uint8_t *base, uint32_t cap) {
  Table t;
  uint32_t k = align4(cap);
  t.kind = base;
  t.vs = reinterpret_cast<uint32_t *>(base + k);
  t.ve = t.vs + cap;
  t.ks = t.ve + cap;
  t.ke = t.ks + cap;
  t.first = reinterpret_cast<int32_t *>(t.ke + cap);
  t.next = t.first + cap;
  t.count = reinterpret_cast<uint32_t *>(t.next + cap);
  t.cap = cap;
  t.size = 0;
  return t;
}

inline bool is_ws(uint8_t c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
inline bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
inline bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

inline bool has_byte(uint64_t x, uint64_t b) {
  uint64_t y = x ^ (0x0101010101010101ULL * b);
  return ((y - 0x0101010101010101ULL) & ~y & 0x8080808080808080ULL) != 0;
}

inline uint64_t load8(const uint8_t *p) {
  uint64_t x;
  memcpy(&x, p, 8);
  return x;
}

// The `len` < 8 bytes at p as the low bytes of a word (the rest zero), reading only
// within [lo, hi): one load when 8 bytes around them are readable.
inline uint64_t load_short(const uint8_t *p, uint32_t len, const uint8_t *lo, const uint8_t *hi) {
  if (len == 0) return 0;
  if (p + 8 <= hi) return load8(p) & ((uint64_t(1) << (8 * len)) - 1);
  if (p + len >= lo + 8) return load8(p + len - 8) >> (8 * (8 - len));
  uint64_t x = 0;
  for (uint32_t i = 0; i < len; i++) x |= uint64_t(p[i]) << (8 * i);
  return x;
}

// Whether a string body [p, e) has escapes ([lo, hi): the readable buffer). Escape
// sequences are not validated (as in Falco's parser); stage 1 has already rejected raw
// control characters. Most strings are short: 16 bytes at once where SSE2 exists (every
// x86-64) and the buffer goes on, else a word at a time; tails overlap.
inline bool has_backslash(const uint8_t *p, const uint8_t *e, const uint8_t *lo, const uint8_t *hi) {
  const uint32_t n = uint32_t(e - p);
#if defined(__SSE2__)
  const __m128i bs = _mm_set1_epi8('\\');
  auto mask16 = [&](const uint8_t *at) {
    return uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i *>(at)), bs)));
  };
  if (n <= 16 && p + 16 <= hi) return (mask16(p) & ((1u << n) - 1)) != 0;
  if (n >= 16) {
    for (; p + 16 <= e; p += 16) {
      if (mask16(p) != 0) return true;
    }
    return p < e && mask16(e - 16) != 0;
  }
#else
  (void)hi;
#endif
  if (n >= 8) {
    for (; p + 8 <= e; p += 8) {
      if (has_byte(load8(p), '\\')) return true;
    }
    return p < e && has_byte(load8(e - 8), '\\');
  }
  // Zero bytes shifted in are not backslashes.
  return n > 0 && has_byte(load_short(p, n, lo, e), '\\');
}

bool check_number(const uint8_t *p, const uint8_t *e) {
  if (p < e && *p == '-') p++;
  if (p >= e) return false;
  if (*p == '0') p++;
  else if (*p >= '1' && *p <= '9') { while (p < e && is_digit(*p)) p++; }
  else return false;
  if (p < e && *p == '.') {
    p++;
    if (p >= e || !is_digit(*p)) return false;
    while (p < e && is_digit(*p)) p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < e && (*p == '+' || *p == '-')) p++;
    if (p >= e || !is_digit(*p)) return false;
    while (p < e && is_digit(*p)) p++;
  }
  return p == e;
}

// A field plan compiled from the ruleset (see src/events/plan.ts for the encoding):
// which members to materialize, which values to record per event ("slots"), and the
// constants each slot's string is matched against ("symbols").
// A planned member key: its length and first 8 bytes (zero padded) decide most
// comparisons without touching the key's bytes.
struct PlanChild {
  uint64_t head;
  uint32_t len;
  int32_t child;
  std::string key;
};

// Equality of n bytes, inline: most keys and constants are short, and a call into
// libc's memcmp costs more than the comparison.
inline bool bytes_equal(const uint8_t *a, const uint8_t *b, uint32_t n) {
  for (; n >= 8; n -= 8, a += 8, b += 8) {
    if (load8(a) != load8(b)) return false;
  }
  for (; n > 0; n--, a++, b++) {
    if (*a != *b) return false;
  }
  return true;
}

inline uint64_t key_head(const uint8_t *k, uint32_t len, const uint8_t *lo, const uint8_t *hi) {
  return len >= 8 ? load8(k) : load_short(k, len, lo, hi);
}

struct PlanNode {
  bool full = false;
  bool eventRoot = false;
  int32_t slot = -1;
  int32_t dict = -1;
  // Children hashed by (length, first and last byte) into 32 buckets, stored flat:
  // bucket b is children[start[b], start[b+1]). Most keys of an event are not planned
  // and miss on an empty bucket.
  std::vector<PlanChild> children;
  uint16_t start[33] = {0};
};

inline uint32_t key_hash(const uint8_t *k, uint32_t len) {
  return len == 0 ? 0 : (len * 7u + k[0] * 3u + k[len - 1]) & 31u;
}

struct Plan {
  std::vector<PlanNode> nodes;
  // dicts[d][len] = the constants of that length, matched like keys (head first)
  struct Constant {
    uint64_t head;
    int32_t sym;
    std::string bytes;
  };
  std::vector<std::vector<std::vector<Constant>>> dicts;
  uint32_t nslots = 0;
  int32_t fullNode = -1;
  // The rules' prefilter (src/rules/prefilter.ts): [auditSlot, rule count, nodes...,
  // index], where each rule's nodes start, and the candidate index's slots.
  std::vector<int32_t> pf;
  std::vector<uint8_t> pfPool;
  std::vector<uint32_t> pfRules;
  struct PfIndexSlot {
    int32_t slot, gated, ids;
    uint32_t rows;  // offset in pf of row 0
  };
  std::vector<PfIndexSlot> pfIndex;
  uint32_t pfWords = 0;

  // Children must be added node by node, then finish_children() called once per node.
  void add_child(int32_t node, std::string key, int32_t child) {
    const uint8_t *k = reinterpret_cast<const uint8_t *>(key.data());
    const uint32_t len = uint32_t(key.size());
    uint64_t head = key_head(k, len, k, k + len);
    nodes[size_t(node)].children.push_back({head, len, child, std::move(key)});
  }

  void finish_children(int32_t node) {
    PlanNode &p = nodes[size_t(node)];
    auto h = [](const PlanChild &c) { return key_hash(reinterpret_cast<const uint8_t *>(c.key.data()), c.len); };
    std::stable_sort(p.children.begin(), p.children.end(), [&](const PlanChild &a, const PlanChild &b) { return h(a) < h(b); });
    uint32_t at = 0;
    for (uint32_t b = 0; b <= 32; b++) {
      while (at < p.children.size() && h(p.children[at]) < b) at++;
      p.start[b] = uint16_t(at);
    }
  }

  // The plan node of member `key` of `node`; the key's bytes lie in [lo, hi).
  int32_t child(int32_t node, const uint8_t *key, uint32_t len, const uint8_t *lo, const uint8_t *hi) const {
    const PlanNode &p = nodes[size_t(node)];
    const uint32_t b = key_hash(key, len);
    uint32_t i = p.start[b];
    const uint32_t e = p.start[b + 1];
    if (i < e) {
      const uint64_t head = key_head(key, len, lo, hi);
      for (; i < e; i++) {
        const PlanChild &c = p.children[i];
        if (c.len == len && c.head == head && (len <= 8 || bytes_equal(reinterpret_cast<const uint8_t *>(c.key.data()) + 8, key + 8, len - 8))) return c.child;
      }
    }
    return p.full ? fullNode : -1;
  }

  // The symbol of string [s, s+len), whose bytes lie in [lo, hi); -1 if none.
  int32_t symbol(int32_t dict, const uint8_t *s, uint32_t len, const uint8_t *lo, const uint8_t *hi) const {
    const auto &byLen = dicts[size_t(dict)];
    if (len >= byLen.size() || byLen[len].empty()) return -1;
    const uint64_t head = key_head(s, len, lo, hi);
    for (const auto &e : byLen[len]) {
      if (e.head == head && (len <= 8 || bytes_equal(reinterpret_cast<const uint8_t *>(e.bytes.data()) + 8, s + 8, len - 8))) return e.sym;
    }
    return -1;
  }
};

// Output rows, one per event root: rowNode[r], then slots[r*P+k] (node or -1), then
// syms[r*P+k]: the symbol of the slot's string, or one of the codes below.
constexpr int32_t SYM_NONE = -1;    // a string without escapes, equal to none of the slot's constants
constexpr int32_t SYM_OTHER = -2;   // not a plain string (escapes, or another type): JS decides
constexpr int32_t SYM_ABSENT = -3;  // no value at the slot's path
struct Rows {
  int32_t *rowNode = nullptr;
  int32_t *slots = nullptr;
  int32_t *syms = nullptr;
  // Per row: the stageTimestamp (slot 0) parsed by event_time: nanoseconds (-1: not
  // parsed, JavaScript decides), days since the epoch, seconds into that day.
  int32_t *times = nullptr;
  // Per row: the first rule the prefilter could not rule out (the rule count: none).
  int32_t *skip = nullptr;
  uint32_t cap = 0;
  uint32_t count = 0;
  uint32_t P = 0;
};

constexpr uint32_t STAGE_TIMESTAMP_SLOT = 0;
constexpr uint32_t KIND_SLOT = 1;  // plan.ts: every plan records `kind` there

// Prefilter programs: every node is [op, length in ints, ...]; values are 0 (false),
// 1 (true) or 2 (unknown: only JavaScript can tell). Leaves mirror, case for case, the
// symbol tests of the generated predicates (compileGenerated in compile-condition.ts).
enum PfOp : int32_t { PF_TRUE = 1, PF_FALSE, PF_UNKNOWN, PF_AND, PF_OR, PF_NOT, PF_SET, PF_BYTES, PF_TIME, PF_LIST };

struct PfRow {
  int32_t root;
  const int32_t *slots, *syms, *times;
  const Table *t;
  const uint8_t *buf;
  size_t blen;
  int32_t audit;
  const uint8_t *pool;
};

// A symbol leaf's symbol: a ka.* (gated) field is absent without an auditID.
inline int32_t pf_sym(const PfRow &c, int32_t slot, int32_t gated) {
  if (gated) {
    if (c.audit < 0) return SYM_OTHER;
    if (c.slots[c.audit] == -1) return SYM_ABSENT;
  }
  return c.syms[slot];
}

// Member `key` of object n as the plugin's Get finds it: the first with that key; -2
// when a key with escapes comes first (only its decoded text could tell).
int32_t pf_member(const PfRow &c, int32_t n, const uint8_t *key, uint32_t len) {
  const Table &t = *c.t;
  if ((t.kind[n] & 0x0f) != OBJ) return -1;
  for (int32_t m = t.first[n]; m != -1; m = t.next[m]) {
    if (t.kind[m] & F_KEY_ESC) return -2;
    if (t.ke[m] - t.ks[m] == len && t.ke[m] <= c.blen && std::memcmp(c.buf + t.ks[m], key, len) == 0) return m;
  }
  return -1;
}

// A PF_LIST leaf: q = [op, len, index, nKeys, (off, len)..., nValues, (off, len)...].
struct PfList {
  int32_t index, nKeys;
  const int32_t *keys, *vals;
  int32_t nVals;
  bool found = false, unknown = false;
};

// One value of the field (arrayAsStringsSkipNil's element): its text against the constants.
void pf_list_value(const PfRow &c, PfList &l, int32_t n) {
  const Table &t = *c.t;
  const uint8_t k = t.kind[n];
  const uint32_t type = k & 0x0f;
  if (type == OBJ || type == ARR || (type == STR && (k & F_VAL_ESC)) || t.ve[n] > c.blen || t.vs[n] > t.ve[n]) {
    l.unknown = true;
    return;
  }
  const uint8_t *s = c.buf + t.vs[n];
  const uint32_t len = t.ve[n] - t.vs[n];
  for (int32_t i = 0; i < l.nVals; i++) {
    if (uint32_t(l.vals[2 * i + 1]) == len && std::memcmp(s, c.pool + l.vals[2 * i], len) == 0) {
      l.found = true;
      return;
    }
  }
}

// getValuesRecursive from node n, key i on: 1 walked, 0 not available, 2 unknown.
int pf_list_walk(const PfRow &c, PfList &l, int32_t n, int32_t i, int depth) {
  const Table &t = *c.t;
  if (depth > 64) return 2;
  for (; i < l.nKeys; i++) {
    if ((t.kind[n] & 0x0f) == ARR) {
      if (l.index < 0) {
        for (int32_t e = t.first[n]; e != -1; e = t.next[e]) {
          const int r = pf_list_walk(c, l, e, i, depth + 1);
          if (r == 2) return 2;
          if (l.found) return 1;
        }
        return 1;
      }
      if (uint32_t(l.index) >= t.count[n]) return 0;
      int32_t e = t.first[n];
      for (int32_t k = 0; k < l.index && e != -1; k++) e = t.next[e];
      if (e == -1) return 0;
      n = e;
    }
    const uint32_t klen = uint32_t(l.keys[2 * i + 1]);
    if (klen > 0) {
      n = pf_member(c, n, c.pool + l.keys[2 * i], klen);
      if (n == -2) return 2;
      if (n == -1) return 0;
    }
  }
  pf_list_value(c, l, n);
  return 1;
}

int pf_list(const int32_t *q, const PfRow &c) {
  // intersects on a ka.* list field: absent without an auditID, and an empty list
  // (nothing walked, or every element missing) is no value.
  if (c.audit < 0) return 2;
  if (c.slots[c.audit] == -1) return 0;
  PfList l;
  l.index = q[2];
  l.nKeys = q[3];
  l.keys = q + 4;
  l.nVals = q[4 + 2 * l.nKeys];
  l.vals = q + 5 + 2 * l.nKeys;
  if (pf_list_walk(c, l, c.root, 0, 0) == 2) return 2;
  if (l.found) return 1;
  return l.unknown ? 2 : 0;
}

int pf_eval(const int32_t *q, const PfRow &c);

// A leaf, or a composite node by pf_eval: leaves are evaluated in the caller's loop,
// without a call each.
inline int pf_node(const int32_t *q, const PfRow &c) {
  switch (q[0]) {
    case PF_TRUE: return 1;
    case PF_FALSE: return 0;
    case PF_SET: {
      const int32_t s = pf_sym(c, q[2], q[3]);
      if (s >= 0) return s < q[5] && c.pool[q[4] + s] != 0 ? 1 : 0;
      return s == SYM_OTHER ? 2 : 0;
    }
    case PF_BYTES: {
      const int32_t s = pf_sym(c, q[2], q[3]);
      if (s == SYM_ABSENT) return 0;
      if (s != SYM_NONE) return 2;
      const int32_t n = c.slots[q[2]];
      if (n < 0 || uint32_t(n) >= c.t->size) return 2;
      const uint32_t vs = c.t->vs[n], ve = c.t->ve[n], len = uint32_t(q[6]);
      if (ve > c.blen || vs > ve) return 2;
      if (ve - vs < len) return 0;
      return std::memcmp(c.buf + (q[4] ? ve - len : vs), c.pool + q[5], len) == 0 ? 1 : 0;
    }
    case PF_TIME: {
      // As rawtimeIs: decided by numbers for times with seconds in (0, 9e9).
      if (c.times[0] < 0) return 2;
      const int64_t sec = int64_t(c.times[1]) * 86400 + c.times[2];
      if (sec <= 0 || sec >= 9000000000LL) return 2;
      if (q[2] == 0) return 0;
      return sec == int64_t(q[3]) * (int64_t(1) << 24) + q[4] && c.times[0] == q[5] ? 1 : 0;
    }
    case PF_LIST: return pf_list(q, c);
    case PF_AND: case PF_OR: case PF_NOT: return pf_eval(q, c);
  }
  return 2;
}

int pf_eval(const int32_t *q, const PfRow &c) {
  switch (q[0]) {
    case PF_AND: case PF_OR: {
      const int decided = q[0] == PF_AND ? 0 : 1;
      int r = 1 - decided;
      const int32_t *k = q + 3;
      for (int32_t i = 0; i < q[2]; i++, k += k[1]) {
        const int v = pf_node(k, c);
        if (v == decided) return v;
        if (v == 2) r = 2;
      }
      return r;
    }
    case PF_NOT: {
      const int v = pf_node(q + 2, c);
      return v == 2 ? 2 : 1 - v;
    }
  }
  return pf_node(q, c);
}

// Whether a prefilter node (and all below it) is well formed for `plan`.
bool pf_check(const int32_t *q, const int32_t *end, const Plan &plan, size_t pool, int depth) {
  if (depth > 4000 || end - q < 2) return false;
  const int32_t len = q[1];
  if (len < 2 || len > end - q) return false;
  auto slot_ok = [&](int32_t s) { return s >= 0 && uint32_t(s) < plan.nslots; };
  auto pool_ok = [&](int32_t off, int32_t n) { return off >= 0 && n >= 0 && size_t(off) + size_t(n) <= pool; };
  switch (q[0]) {
    case PF_TRUE: case PF_FALSE: case PF_UNKNOWN: return len == 2;
    case PF_AND: case PF_OR: {
      if (len < 3 || q[2] < 0) return false;
      const int32_t *k = q + 3, *e = q + len;
      for (int32_t i = 0; i < q[2]; i++) {
        if (!pf_check(k, e, plan, pool, depth + 1)) return false;
        k += k[1];
      }
      return k == e;
    }
    case PF_NOT: return len >= 4 && pf_check(q + 2, q + len, plan, pool, depth + 1) && q[3] == len - 2;
    case PF_SET: return len == 6 && slot_ok(q[2]) && pool_ok(q[4], q[5]);
    case PF_BYTES: return len == 7 && slot_ok(q[2]) && pool_ok(q[5], q[6]);
    case PF_TIME: return len == 6 && q[5] >= 0 && q[5] < 1000000000 && q[3] >= 0 && q[4] >= 0;
    case PF_LIST: {
      if (len < 5 || q[2] < -1 || q[3] < 0 || q[3] > 64 || 5 + 2 * q[3] > len) return false;
      const int32_t nv = q[4 + 2 * q[3]];
      if (nv < 0 || 5 + 2 * q[3] + 2 * nv != len) return false;
      for (int32_t i = 0; i < q[3] + nv; i++) {
        const int32_t *p = i < q[3] ? q + 4 + 2 * i : q + 5 + 2 * q[3] + 2 * (i - q[3]);
        if (!pool_ok(p[0], p[1])) return false;
      }
      return true;
    }
  }
  return false;
}

// The prefilter's verdict for every row of the parse: the index narrows the rules to
// candidates, whose programs then decide which is the first that may match.
void pf_verdicts(const Plan &plan, const Table &t, const uint8_t *buf, size_t blen, Rows &rows) {
  if (plan.pf.empty() || rows.skip == nullptr) return;
  const uint32_t nRules = uint32_t(plan.pf[1]), W = plan.pfWords;
  PfRow c{-1, nullptr, nullptr, nullptr, &t, buf, blen, plan.pf[0], plan.pfPool.data()};
  std::vector<uint32_t> cand(W);
  const uint32_t *masks = reinterpret_cast<const uint32_t *>(plan.pf.data());
  for (uint32_t r = 0; r < rows.count; r++) {
    c.slots = rows.slots + size_t(r) * rows.P;
    c.syms = rows.syms + size_t(r) * rows.P;
    c.times = rows.times + size_t(r) * 3;
    c.root = rows.rowNode[r];
    for (uint32_t w = 0; w < W; w++) cand[w] = w + 1 < W || nRules % 32 == 0 ? ~0u : (1u << (nRules % 32)) - 1;
    for (const auto &ix : plan.pfIndex) {
      const int32_t s = pf_sym(c, ix.slot, ix.gated);
      const uint32_t row = s < 0 ? uint32_t(s + 3) : 3 + uint32_t(s < ix.ids ? s : ix.ids);
      const uint32_t *m = masks + ix.rows + size_t(row) * W;
      for (uint32_t w = 0; w < W; w++) cand[w] &= m[w];
    }
    int32_t first = int32_t(nRules);
    for (uint32_t w = 0; w < W && first == int32_t(nRules); w++) {
      for (uint32_t bits = cand[w]; bits != 0; bits &= bits - 1) {
        const uint32_t i = w * 32 + uint32_t(__builtin_ctz(bits));
        if (pf_node(plan.pf.data() + plan.pfRules[i], c) != 0) {
          first = int32_t(i);
          break;
        }
      }
    }
    rows.skip[r] = first;
  }
}

inline int32_t days_from_civil(int32_t y, int32_t m, int32_t d) {
  y -= m <= 2 ? 1 : 0;
  const int32_t era = (y >= 0 ? y : y - 399) / 400;
  const int32_t yoe = y - era * 400;
  const int32_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int32_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// The usual `YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)` of an audit event's time,
// exactly as parseEventTimeBytes in src/events/time.ts reads it; false when the
// TypeScript parser must decide.
bool event_time(const uint8_t *p, uint32_t len, int32_t *out) {
  if (len < 20) return false;
  static const uint8_t DATE_DIGITS[] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
  for (uint8_t j : DATE_DIGITS) if (!is_digit(p[j])) return false;
  if (p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':') return false;
  auto num2 = [&](uint32_t at) { return int32_t(p[at] - '0') * 10 + int32_t(p[at + 1] - '0'); };
  const int32_t year = num2(0) * 100 + num2(2), month = num2(5), day = num2(8), hour = num2(11), min = num2(14), sec = num2(17);
  static const int32_t DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || hour > 23 || min > 59 || sec > 59) return false;
  const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  if (day > (month == 2 && leap ? 29 : DAYS[month - 1])) return false;
  uint32_t i = 19;
  int32_t nsec = 0;
  if (p[i] == '.' && i + 1 < len && is_digit(p[i + 1])) {
    i++;
    int digits = 0;
    while (i < len && is_digit(p[i])) {
      if (digits < 9) { nsec = nsec * 10 + (p[i] - '0'); digits++; }
      i++;
    }
    for (; digits < 9; digits++) nsec *= 10;
  }
  int32_t offset = 0;
  if (i == len - 1 && p[i] == 'Z') {
  } else if (i + 6 == len && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
    if (!is_digit(p[i + 1]) || !is_digit(p[i + 2]) || !is_digit(p[i + 4]) || !is_digit(p[i + 5])) return false;
    const int32_t hh = num2(i + 1), mm = num2(i + 4);
    if (hh > 23 || mm > 59) return false;
    offset = (hh * 60 + mm) * 60 * (p[i] == '-' ? -1 : 1);
  } else {
    return false;
  }
  out[0] = nsec;
  out[1] = days_from_civil(year, month, day);
  out[2] = hour * 3600 + min * 60 + sec - offset;
  return true;
}

// Decodes an escaped key into `out` (JSON escapes; \u as UTF-8).
void unescape_key(const uint8_t *p, const uint8_t *e, std::string &out) {
  out.clear();
  while (p < e) {
    if (*p != '\\') { out.push_back(char(*p++)); continue; }
    uint8_t c = p[1];
    p += 2;
    switch (c) {
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        auto hex = [](uint8_t h) { return h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10; };
        uint32_t cp = (hex(p[0]) << 12) | (hex(p[1]) << 8) | (hex(p[2]) << 4) | hex(p[3]);
        p += 4;
        if (cp < 0x80) out.push_back(char(cp));
        else if (cp < 0x800) { out.push_back(char(0xc0 | (cp >> 6))); out.push_back(char(0x80 | (cp & 0x3f))); }
        else { out.push_back(char(0xe0 | (cp >> 12))); out.push_back(char(0x80 | ((cp >> 6) & 0x3f))); out.push_back(char(0x80 | (cp & 0x3f))); }
        break;
      }
      default: out.push_back(char(c));
    }
  }
}

inline uint32_t token_end(const uint8_t *buf, uint32_t start, uint32_t next) {
  uint32_t e = next;
  // Compact JSON: no whitespace before the next structural (one comparison, usually).
  if (e > start && buf[e - 1] > ' ') return e;
  while (e > start && is_ws(buf[e - 1])) e--;
  return e;
}

// Validates the container at structural i exactly as stage 2 would, without
// materializing anything; `depth` containers are already open around it. Returns the
// index of the structural after it, or UINT32_MAX when the JSON is invalid. Like
// stage 2 it needs the sentinel si[n] == len: where the last token ends.
uint32_t skip_container(const uint8_t *buf, uint32_t len, const uint32_t *si, uint32_t n, uint32_t i, size_t depth) {
  constexpr uint32_t BAD = UINT32_MAX;
  uint64_t objbits[(MAX_DEPTH + 64) / 64] = {0};
  uint32_t d = 0;
  auto push = [&](bool obj) {
    if (obj) objbits[d >> 6] |= (uint64_t(1) << (d & 63));
    else objbits[d >> 6] &= ~(uint64_t(1) << (d & 63));
    d++;
  };
  auto top_obj = [&]() { return ((objbits[(d - 1) >> 6] >> ((d - 1) & 63)) & 1) != 0; };
value: {
    if (i >= n) return BAD;
    // Every value counts toward the depth limit, scalars included (as fastjson counts).
    if (depth + d + 1 > MAX_DEPTH) return BAD;
    uint32_t p = si[i];
    uint8_t c = buf[p];
    uint32_t next = si[i + 1];
    if (c == '{' || c == '[') {
      push(c == '{');
      i++;
      if (i < n && buf[si[i]] == (c == '{' ? '}' : ']')) { i++; d--; goto after_value; }
      if (c == '{') goto key;
      goto value;
    }
    if (c == '"') {
      uint32_t close = token_end(buf, p, next);
      if (close <= p + 1 || buf[close - 1] != '"') return BAD;
    } else if (c == '-' || is_digit(c)) {
      if (!check_number(buf + p, buf + token_end(buf, p, next))) return BAD;
    } else {
      uint32_t l = token_end(buf, p, next) - p;
      if (!((l == 4 && memcmp(buf + p, "true", 4) == 0) || (l == 5 && memcmp(buf + p, "false", 5) == 0) ||
            (l == 4 && memcmp(buf + p, "null", 4) == 0))) return BAD;
    }
    i++;
    goto after_value;
  }
key: {
    if (i >= n) return BAD;
    uint32_t k = si[i];
    if (buf[k] != '"') return BAD;
    uint32_t next = si[i + 1];
    uint32_t close = token_end(buf, k, next);
    if (close <= k + 1 || buf[close - 1] != '"') return BAD;
    i++;
    if (i >= n || buf[si[i]] != ':') return BAD;
    i++;
    goto value;
  }
after_value: {
    if (d == 0) return i;
    if (i >= n) return BAD;
    uint8_t b = buf[si[i]];
    bool obj = top_obj();
    if (b == ',') {
      i++;
      if (obj) goto key;
      goto value;
    }
    if (b == (obj ? '}' : ']')) {
      i++;
      d--;
      goto after_value;
    }
    return BAD;
  }
}

// The walk of split.ts over simdjson's structural indexes (see Extractor::split).
struct BodySplit {
  // Documents and values nest at most this deep here; deeper bodies go to split.ts, so
  // its own depth limit decides them.
  static constexpr uint32_t DEPTH_LIMIT = 250;
  const uint8_t *buf;
  uint32_t len;
  const uint32_t *si;
  uint32_t n;
  uint32_t *ranges;
  uint32_t cap;
  uint32_t base;
  uint32_t count;

  void push(uint32_t s, uint32_t e) {
    if (count < cap) {
      ranges[2 * count] = s + base;
      ranges[2 * count + 1] = e + base;
    }
    count++;
  }

  uint32_t next_pos(uint32_t i) const { return i + 1 < n ? si[i + 1] : len; }

  // A string token at structural i: its end (after the closing quote), or 0.
  uint32_t string_end(uint32_t i) const {
    uint32_t p = si[i];
    uint32_t close = token_end(buf, p, next_pos(i));
    if (close <= p + 1 || buf[close - 1] != '"') return 0;
    return close;
  }

  // A strictly valid scalar at structural i (not a container): its end, or 0.
  uint32_t scalar_end(uint32_t i) const {
    uint32_t p = si[i];
    uint8_t c = buf[p];
    if (c == '"') return string_end(i);
    uint32_t e = token_end(buf, p, next_pos(i));
    if (c == '-' || is_digit(c)) return check_number(buf + p, buf + e) ? e : 0;
    uint32_t l = e - p;
    if ((l == 4 && memcmp(buf + p, "true", 4) == 0) || (l == 5 && memcmp(buf + p, "false", 5) == 0) ||
        (l == 4 && memcmp(buf + p, "null", 4) == 0)) return e;
    return 0;
  }

  // A strictly valid JSON value at structural i; i moves past it.
  bool value(uint32_t &i, uint32_t depth) {
    if (i >= n || depth > DEPTH_LIMIT) return false;
    uint8_t c = buf[si[i]];
    if (c == '{' || c == '[') {
      uint32_t a = skip_container(buf, len, si, n, i, depth + (MAX_DEPTH - DEPTH_LIMIT));
      if (a == UINT32_MAX) return false;
      i = a;
      return true;
    }
    if (scalar_end(i) == 0) return false;
    i++;
    return true;
  }

  // The items array at structural i: each element's extent (workers parse them).
  bool items(uint32_t &i, uint32_t depth) {
    i++;
    if (i < n && buf[si[i]] == ']') { i++; return true; }
    for (;;) {
      if (i >= n) return false;
      uint32_t p = si[i];
      uint8_t c = buf[p];
      uint32_t e;
      if (c == '{' || c == '[') {
        if (!value(i, depth + 1)) return false;
        e = si[i - 1] + 1;
      } else {
        e = scalar_end(i);
        if (e == 0) return false;
        i++;
      }
      push(p, e);
      if (i >= n) return false;
      uint8_t b = buf[si[i]];
      if (b == ',') { i++; continue; }
      if (b == ']') { i++; return true; }
      return false;
    }
  }

  // An audit document at structural i: an Event, an EventList, or an array of them.
  bool document(uint32_t &i, uint32_t depth) {
    if (i >= n || depth > DEPTH_LIMIT) return false;
    uint8_t c = buf[si[i]];
    if (c == '[') {
      i++;
      if (i < n && buf[si[i]] == ']') { i++; return true; }
      for (;;) {
        if (!document(i, depth + 1) || i >= n) return false;
        uint8_t b = buf[si[i]];
        if (b == ',') { i++; continue; }
        if (b == ']') { i++; return true; }
        return false;
      }
    }
    if (c != '{') return false;
    const uint32_t objStart = si[i];
    const uint32_t firstRange = count;
    enum { UNSET, EVENT, EVENT_LIST, OTHER } kind = UNSET;
    bool itemsSeen = false, itemsIsArray = false;
    i++;
    if (i >= n || buf[si[i]] == '}') return false;
    for (;;) {
      if (i >= n || buf[si[i]] != '"') return false;
      uint32_t ke = string_end(i);
      if (ke == 0) return false;
      const uint8_t *ks = buf + si[i] + 1;
      const uint32_t kl = ke - 1 - (si[i] + 1);
      if (has_backslash(ks, ks + kl, buf, buf + len)) return false;
      i++;
      if (i >= n || buf[si[i]] != ':') return false;
      i++;
      if (i >= n) return false;
      const bool isKind = kl == 4 && memcmp(ks, "kind", 4) == 0;
      const bool isItems = kl == 5 && memcmp(ks, "items", 5) == 0;
      const uint8_t v = buf[si[i]];
      if (isKind && kind == UNSET) {
        if (v == '"') {
          uint32_t ve = string_end(i);
          if (ve == 0) return false;
          const uint8_t *vs = buf + si[i] + 1;
          const uint32_t vl = ve - 1 - (si[i] + 1);
          if (has_backslash(vs, vs + vl, buf, buf + len)) return false;
          kind = (vl == 9 && memcmp(vs, "EventList", 9) == 0) ? EVENT_LIST : (vl == 5 && memcmp(vs, "Event", 5) == 0) ? EVENT : OTHER;
          i++;
        } else {
          kind = OTHER;
          if (!value(i, depth + 1)) return false;
        }
      } else if (isItems && !itemsSeen) {
        itemsSeen = true;
        if (v == '[') {
          itemsIsArray = true;
          if (!items(i, depth + 1)) return false;
        } else if (!value(i, depth + 1)) {
          return false;
        }
      } else if (!value(i, depth + 1)) {
        return false;
      }
      if (i >= n) return false;
      uint8_t b = buf[si[i]];
      if (b == ',') { i++; continue; }
      if (b == '}') { i++; break; }
      return false;
    }
    if (kind == EVENT_LIST && itemsIsArray) return true;
    count = firstRange;
    if (kind == EVENT) {
      push(objStart, si[i - 1] + 1);
      return true;
    }
    return false;
  }
};

class Extractor {
 public:
  // Parses buf[0, len) (offsets reported + `base`); returns node count, 0 on invalid
  // JSON, -1 when the node table is too small (meta[1] = needed), -2 when the rows
  // are too few (meta[2] = needed). `plan` may be null: then everything is
  // materialized and no rows are recorded.
  bool ensure_capacity(uint32_t len) {
    if (impl_ && impl_->capacity() >= len) return true;
    size_t cap = len < 65536 ? 65536 : size_t(len) + len / 4;
    if (!impl_) {
      return simdjson::get_active_implementation()->create_dom_parser_implementation(cap, MAX_DEPTH + 8, impl_) == simdjson::SUCCESS;
    }
    if (impl_->allocate(cap, MAX_DEPTH + 8) != simdjson::SUCCESS) {
      impl_.reset();
      return false;
    }
    return true;
  }

  int64_t parse(const uint8_t *buf, uint32_t len, uint32_t base, Table &t, const Plan *plan, Rows &rows, int32_t *meta) {
    if (len == 0) return 0;
    if (!ensure_capacity(len)) return 0;
    if (impl_->stage1(buf, len, simdjson::stage1_mode::regular) != simdjson::SUCCESS) return 0;
    const uint32_t n = impl_->n_structural_indexes;
    const uint32_t *si = impl_->structural_indexes.get();
    return stage2(buf, len, base, si, n, t, plan, rows, meta);
  }

  enum SpanStatus { SPAN_ALL, SPAN_DOC_FAILED, SPAN_STAGE1_FAILED, SPAN_CAPACITY };

  // Stage 1 once over the span covering documents [first, first+count) (lines of a
  // file, items of a body), then stage 2 per document on its share of the structural
  // indexes. A document is indexed there exactly as it would be alone when no token
  // crosses its edges (checked below); from the first one that fails, the caller parses
  // the rest one by one. `*completed` counts the documents done here.
  SpanStatus span(const uint8_t *data, const uint32_t *rg, uint32_t first, uint32_t count, Table &t,
                  const Plan *plan, Rows &rows, int32_t *meta, int32_t *out, uint32_t *completed) {
    *completed = 0;
    const uint32_t s0 = rg[2 * first];
    const uint32_t e0 = rg[2 * (first + count - 1) + 1];
    for (uint32_t d = 0; d < count; d++) {
      uint32_t s = rg[2 * (first + d)], e = rg[2 * (first + d) + 1];
      if (s > e || s < s0 || e > e0 || (d > 0 && s < rg[2 * (first + d - 1) + 1])) return SPAN_STAGE1_FAILED;
    }
    const uint32_t len = e0 - s0;
    if (len == 0 || !ensure_capacity(len)) return SPAN_STAGE1_FAILED;
    const uint8_t *buf = data + s0;
    if (impl_->stage1(buf, len, simdjson::stage1_mode::regular) != simdjson::SUCCESS) return SPAN_STAGE1_FAILED;
    const uint32_t n = impl_->n_structural_indexes;
    const uint32_t *si = impl_->structural_indexes.get();
    uint32_t j = 0;
    for (uint32_t d = 0; d < count; d++) {
      const uint32_t s = rg[2 * (first + d)] - s0, e = rg[2 * (first + d) + 1] - s0;
      // Documents hold hundreds of structurals each: find their ends by bisection.
      j = uint32_t(std::lower_bound(si + j, si + n, s) - si);
      const uint32_t f = j;
      j = uint32_t(std::lower_bound(si + j, si + n, e) - si);
      if (j == f) return SPAN_DOC_FAILED;
      // The span was indexed as this document alone would be only if no token crosses
      // its edges: it starts at its first structural, and nothing but whitespace lies
      // between its end and the next structural (a range may cut a number, or end just
      // after an escaped quote, and then mean something else alone).
      uint32_t lead = s;
      while (lead < e && is_ws(buf[lead])) lead++;
      if (si[f] != lead) return SPAN_DOC_FAILED;
      for (uint32_t q = e; q < si[j]; q++) {  // si[n] is simdjson's sentinel, len
        if (!is_ws(buf[q])) return SPAN_DOC_FAILED;
      }
      const uint32_t size0 = t.size, rows0 = rows.count, root = t.size;
      // Stage 2's sentinel after this document's structurals: its end. The slot holds
      // the next document's first structural (or simdjson's own sentinel) meanwhile.
      uint32_t *const sentinel = impl_->structural_indexes.get() + j;
      const uint32_t saved = *sentinel;
      *sentinel = e;
      int64_t r = stage2(buf, e, s0, si + f, j - f, t, plan, rows, meta);
      *sentinel = saved;
      if (r <= 0) {
        t.size = size0;
        rows.count = rows0;
        return r == 0 ? SPAN_DOC_FAILED : SPAN_CAPACITY;
      }
      out[d] = int32_t(root);
      (*completed)++;
    }
    return SPAN_ALL;
  }

  // Parses one more document into a table that may already hold others; on failure the
  // table and rows are left as they were. Returns >0 on success.
  int64_t append(const uint8_t *buf, uint32_t len, uint32_t base, Table &t, const Plan *plan, Rows &rows, int32_t *meta) {
    const uint32_t size0 = t.size;
    const uint32_t rows0 = rows.count;
    int64_t r = parse(buf, len, base, t, plan, rows, meta);
    if (r <= 0) {
      t.size = size0;
      rows.count = rows0;
    }
    return r;
  }

  // Event ranges of a webhook body exactly as src/ingest/split.ts finds them (offsets
  // + `base`). Returns the event count (ranges beyond `cap` are counted, not written),
  // or -1 when the TypeScript splitter must decide: anything invalid or unusual (escaped
  // keys or kinds, deep nesting), for which it gives the reason. Accepting only what
  // split.ts accepts, with the same ranges, is what the differential tests check.
  int64_t split(const uint8_t *buf, uint32_t len, uint32_t base, uint32_t *ranges, uint32_t cap) {
    if (len == 0 || !ensure_capacity(len)) return -1;
    if (impl_->stage1(buf, len, simdjson::stage1_mode::regular) != simdjson::SUCCESS) return -1;
    BodySplit b{buf, len, impl_->structural_indexes.get(), impl_->n_structural_indexes, ranges, cap, base, 0};
    uint32_t i = 0;
    if (!b.document(i, 0) || i != b.n) return -1;
    return int64_t(b.count);
  }

 private:
  std::unique_ptr<simdjson::internal::dom_parser_implementation> impl_;
  // An open container. `memberRow` is the event row its members' values are recorded
  // into as slots (Get chains: an object reached from the event root through objects
  // only), or -1.
  struct Frame {
    int32_t node;
    int32_t plan;       // plan node of the container, -2 when there is no plan
    int32_t lastChild;
    int32_t row;        // event row of the enclosing event, -1 none
    int32_t memberRow;
    bool obj;
    bool viaArray;      // an array lies between the event root and this container
  };
  Frame frames_[MAX_DEPTH + 1];
  std::string keybuf_;

  // One pass over the structural indexes as a state machine: `member` reads a key,
  // `element` starts an array element, `value` reads the value at si[i] (its plan node
  // `pn`, its key), `after` takes a comma or closes containers (`close_container`). `f`
  // is the innermost open container (nullptr at the top level); it always has a node,
  // since containers outside the plan are validated and skipped whole by skip_container.
  // si[n] must be `len` (simdjson writes that sentinel; span() sets it per document).
  int64_t stage2(const uint8_t *buf, uint32_t len, uint32_t base, const uint32_t *si, uint32_t n, Table &t,
                 const Plan *plan, Rows &rows, int32_t *meta) {
    const uint32_t P = rows.P;
    Frame *const bottom = frames_;
    Frame *f = nullptr;
    uint32_t i = 0;
    int32_t pn = plan ? 0 : -2;
    uint32_t keyStart = 0, keyEnd = 0;
    uint8_t keyEsc = 0;
    goto value;

  member: {
    if (i >= n) return 0;
    const uint32_t k = si[i];
    if (buf[k] != '"') return 0;
    const uint32_t close = token_end(buf, k, si[i + 1]);
    if (close <= k + 1 || buf[close - 1] != '"') return 0;
    const bool esc = has_backslash(buf + k + 1, buf + close - 1, buf, buf + len);
    keyStart = k + 1;
    keyEnd = close - 1;
    keyEsc = esc ? F_KEY_ESC : 0;
    i++;
    if (i >= n || buf[si[i]] != ':') return 0;
    i++;
    if (f->plan >= 0) {
      if (esc) {
        unescape_key(buf + keyStart, buf + keyEnd, keybuf_);
        const uint8_t *kb = reinterpret_cast<const uint8_t *>(keybuf_.data());
        pn = plan->child(f->plan, kb, uint32_t(keybuf_.size()), kb, kb + keybuf_.size());
      } else {
        pn = plan->child(f->plan, buf + keyStart, keyEnd - keyStart, buf, buf + len);
      }
    } else {
      pn = f->plan;
    }
    goto value;
  }

  element:
    pn = f->plan;
    keyStart = keyEnd = 0;
    keyEsc = 0;
    goto value;

  value: {
    if (i >= n) return 0;
    const uint32_t p = si[i];
    const uint8_t c = buf[p];
    const bool keep = pn != -1;
    // Every value counts toward the depth limit, scalars included (as fastjson counts).
    if (f != nullptr && uint32_t(f - bottom) + 2 > MAX_DEPTH) return 0;
    if (c == '{' || c == '[') {
      const uint32_t depth = f == nullptr ? 0 : uint32_t(f - bottom) + 1;
      if (!keep) {
        const uint32_t past = skip_container(buf, len, si, n, i, depth);
        if (past == UINT32_MAX) return 0;
        i = past;
        goto after;
      }
      const bool obj = c == '{';
      const int32_t node = add_node(t, f, uint8_t((obj ? OBJ : ARR) | keyEsc), p + base, p + base, keyStart, keyEnd, base);
      if (node < 0) { meta[1] = int32_t(n + 1); return -1; }
      if (pn >= 0 && f != nullptr && f->memberRow >= 0) record_slot(*plan, pn, rows, P, f->memberRow, node, obj ? OBJ : ARR, buf, 0, buf, buf + len);
      Frame *g = f == nullptr ? bottom : f + 1;
      g->node = node;
      g->plan = pn;
      g->lastChild = -1;
      g->obj = obj;
      g->row = f != nullptr ? f->row : -1;
      g->viaArray = f != nullptr ? (f->viaArray || !f->obj) : false;
      if (obj && pn >= 0 && plan->nodes[size_t(pn)].eventRoot) {
        if (rows.count >= rows.cap) { meta[2] = int32_t(rows.count + 1) * 2; return -2; }
        const uint32_t r = rows.count++;
        rows.rowNode[r] = node;
        for (uint32_t k = 0; k < P; k++) { rows.slots[size_t(r) * P + k] = -1; rows.syms[size_t(r) * P + k] = SYM_ABSENT; }
        rows.times[size_t(r) * 3] = -1;
        g->row = int32_t(r);
        g->viaArray = false;
      }
      g->memberRow = obj && !g->viaArray ? g->row : -1;
      f = g;
      i++;
      if (i < n && buf[si[i]] == (obj ? '}' : ']')) goto close_container;
      if (obj) goto member;
      goto element;
    }
    const uint32_t next = si[i + 1];
    uint8_t kind;
    uint32_t vs = p, ve;
    if (c == '"') {
      const uint32_t close = token_end(buf, p, next);
      if (close <= p + 1 || buf[close - 1] != '"') return 0;
      // Escapes matter only to a node that is kept.
      kind = keep && has_backslash(buf + p + 1, buf + close - 1, buf, buf + len) ? uint8_t(STR | F_VAL_ESC) : STR;
      vs = p + 1;
      ve = close - 1;
    } else if (c == '-' || is_digit(c)) {
      ve = token_end(buf, p, next);
      if (!check_number(buf + p, buf + ve)) return 0;
      kind = NUM;
    } else {
      ve = token_end(buf, p, next);
      const uint32_t l = ve - p;
      if (l == 4 && memcmp(buf + p, "true", 4) == 0) kind = TRUE_;
      else if (l == 5 && memcmp(buf + p, "false", 5) == 0) kind = FALSE_;
      else if (l == 4 && memcmp(buf + p, "null", 4) == 0) kind = NULL_;
      else return 0;
    }
    i++;
    if (keep) {
      const int32_t node = add_node(t, f, uint8_t(kind | keyEsc), vs + base, ve + base, keyStart, keyEnd, base);
      if (node < 0) { meta[1] = int32_t(n + 1); return -1; }
      if (pn >= 0 && f != nullptr && f->memberRow >= 0) record_slot(*plan, pn, rows, P, f->memberRow, node, kind, buf + vs, ve - vs, buf, buf + len);
    }
    goto after;
  }

  after: {
    if (f == nullptr) { meta[0] = int32_t(rows.count); return i == n ? int64_t(t.size) : 0; }
    if (i >= n) return 0;
    const uint8_t b = buf[si[i]];
    if (b == ',') {
      i++;
      if (f->obj) goto member;
      goto element;
    }
    if (b != (f->obj ? '}' : ']')) return 0;
    goto close_container;
  }

  // The innermost container closes at structural i.
  close_container:
    t.ve[f->node] = si[i] + 1 + base;
    i++;
    f = f == bottom ? nullptr : f - 1;
    goto after;
  }

  // Appends a node as the next child of `parent` (a member when the parent is an
  // object); -1 when the table is full.
  static int32_t add_node(Table &t, Frame *parent, uint8_t kind, uint32_t vs, uint32_t ve, uint32_t keyStart, uint32_t keyEnd, uint32_t base) {
    if (t.size >= t.cap) return -1;
    const int32_t node = int32_t(t.size++);
    const bool member = parent != nullptr && parent->obj;
    t.kind[node] = kind;
    t.vs[node] = vs;
    t.ve[node] = ve;
    t.ks[node] = member ? keyStart + base : 0;
    t.ke[node] = member ? keyEnd + base : 0;
    t.first[node] = -1;
    t.next[node] = -1;
    t.count[node] = 0;
    if (parent != nullptr) {
      if (parent->lastChild == -1) t.first[parent->node] = node;
      else t.next[parent->lastChild] = node;
      parent->lastChild = node;
      t.count[parent->node]++;
    }
    return node;
  }

  // A planned Get-chain value of event row `row` (the first occurrence wins): its node
  // and the symbol of its string, or SYM_OTHER for escaped strings and other types.
  // [lo, hi) is the readable buffer around the string s.
  static void record_slot(const Plan &plan, int32_t pn, Rows &rows, uint32_t P, int32_t row, int32_t node, uint8_t kind,
                          const uint8_t *s, uint32_t slen, const uint8_t *lo, const uint8_t *hi) {
    const PlanNode &pln = plan.nodes[size_t(pn)];
    if (pln.slot < 0) return;
    const size_t at = size_t(row) * P + size_t(pln.slot);
    if (rows.slots[at] != -1) return;
    rows.slots[at] = node;
    if (kind != STR) {
      rows.syms[at] = SYM_OTHER;
      return;
    }
    rows.syms[at] = pln.dict >= 0 ? plan.symbol(pln.dict, s, slen, lo, hi) : SYM_NONE;
    if (uint32_t(pln.slot) == STAGE_TIMESTAMP_SLOT) event_time(s, slen, rows.times + size_t(row) * 3);
  }

};

// Not inlined: a caller that sees the thread_local would let the compiler specialize
// the parser on its address and look it up (__tls_get_addr) at every member access.
__attribute__((noinline)) Extractor &extractor() {
  static thread_local Extractor e;
  return e;
}

void FinalizePlan(Napi::Env, Plan *p) { delete p; }

// compilePlan(program: Int32Array, strings: Uint8Array) -> External<Plan>
Napi::Value CompilePlan(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsTypedArray()) {
    Napi::TypeError::New(env, "compilePlan(program, strings)").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto prog = info[0].As<Napi::Int32Array>();
  auto blob = info[1].As<Napi::Uint8Array>();
  const int32_t *q = prog.Data();
  const int32_t *qe = q + prog.ElementLength();
  const char *str = reinterpret_cast<const char *>(blob.Data());
  const size_t slen = blob.ByteLength();
  auto bad = [&]() { Napi::RangeError::New(env, "malformed field plan").ThrowAsJavaScriptException(); return env.Null(); };
  auto take = [&](int32_t &v) { if (q >= qe) return false; v = *q++; return true; };
  auto *plan = new Plan();
  std::unique_ptr<Plan> guard(plan);
  int32_t nNodes, nDicts, nSlots;
  if (!take(nNodes) || !take(nDicts) || !take(nSlots) || nNodes < 1 || nDicts < 0 || nSlots < 0) return bad();
  plan->nslots = uint32_t(nSlots);
  plan->nodes.resize(size_t(nNodes) + 1);
  for (int32_t k = 0; k < nNodes; k++) {
    int32_t full, ev, slot, dict, nc;
    if (!take(full) || !take(ev) || !take(slot) || !take(dict) || !take(nc) || nc < 0 || nc > 65535) return bad();
    if (slot >= nSlots || dict >= nDicts) return bad();
    PlanNode &pn = plan->nodes[size_t(k)];
    pn.full = full != 0; pn.eventRoot = ev != 0; pn.slot = slot; pn.dict = dict;
    for (int32_t c = 0; c < nc; c++) {
      int32_t off, len, child;
      if (!take(off) || !take(len) || !take(child) || off < 0 || len < 0 || size_t(off) + size_t(len) > slen || child < 0 || child >= nNodes) return bad();
      plan->add_child(k, std::string(str + off, size_t(len)), child);
    }
    plan->finish_children(k);
  }
  plan->fullNode = nNodes;
  plan->nodes[size_t(nNodes)].full = true;
  plan->dicts.resize(size_t(nDicts));
  for (int32_t d = 0; d < nDicts; d++) {
    int32_t ne;
    if (!take(ne) || ne < 0) return bad();
    for (int32_t e = 0; e < ne; e++) {
      int32_t off, len, sym;
      if (!take(off) || !take(len) || !take(sym) || off < 0 || len < 0 || size_t(off) + size_t(len) > slen) return bad();
      auto &byLen = plan->dicts[size_t(d)];
      if (byLen.size() <= size_t(len)) byLen.resize(size_t(len) + 1);
      const uint8_t *b = reinterpret_cast<const uint8_t *>(str + off);
      byLen[size_t(len)].push_back({key_head(b, uint32_t(len), b, b + len), sym, std::string(str + off, size_t(len))});
    }
  }
  if (info.Length() >= 4 && info[2].IsTypedArray() && info[3].IsTypedArray()) {
    auto pf = info[2].As<Napi::Int32Array>();
    auto pool = info[3].As<Napi::Uint8Array>();
    plan->pf.assign(pf.Data(), pf.Data() + pf.ElementLength());
    plan->pfPool.assign(pool.Data(), pool.Data() + pool.ByteLength());
    const auto &v = plan->pf;
    if (v.size() < 2 || v[0] < -1 || v[0] >= nSlots || v[1] < 0) return bad();
    const int32_t *k = v.data() + 2, *e = v.data() + v.size();
    for (int32_t i = 0; i < v[1]; i++) {
      if (!pf_check(k, e, *plan, plan->pfPool.size(), 0)) return bad();
      plan->pfRules.push_back(uint32_t(k - v.data()));
      k += k[1];
    }
    // The candidate index: [words per row, slots, per slot: slot, gated, ids, rows].
    if (e - k < 2 || k[0] != (v[1] + 31) / 32 || k[1] < 0) return bad();
    plan->pfWords = uint32_t(k[0]);
    const int32_t nIdx = k[1];
    k += 2;
    for (int32_t i = 0; i < nIdx; i++) {
      if (e - k < 3 || k[0] < 0 || k[0] >= nSlots || k[2] < 0 || k[2] > 1 << 20) return bad();
      const size_t n = size_t(k[2] + 4) * plan->pfWords;
      if (size_t(e - k - 3) < n) return bad();
      plan->pfIndex.push_back({k[0], k[1], k[2], uint32_t(k + 3 - v.data())});
      k += 3 + n;
    }
    if (k != e) return bad();
  }
  guard.release();
  return Napi::External<Plan>::New(env, plan, FinalizePlan);
}

// [start, end) at info[1], info[2] within `arr` (else a JS RangeError).
bool byte_range(const Napi::CallbackInfo &info, const Napi::Uint8Array &arr, uint32_t &start, uint32_t &end) {
  start = info[1].As<Napi::Number>().Uint32Value();
  end = info[2].As<Napi::Number>().Uint32Value();
  if (end <= arr.ByteLength() && start <= end) return true;
  Napi::RangeError::New(info.Env(), "range outside the buffer").ThrowAsJavaScriptException();
  return false;
}

// The node table buffer holds `cap` nodes (else a JS RangeError).
bool table_fits(Napi::Env env, Napi::ArrayBuffer ab, uint32_t cap) {
  if (ab.ByteLength() >= size_t(align4(cap)) + size_t(cap) * 28) return true;
  Napi::RangeError::New(env, "node table smaller than its capacity").ThrowAsJavaScriptException();
  return false;
}

// (plan, rows: Int32Array, rowCap, slotsPerRow) at info[at..at+3], when a plan is
// given: `rows` then points into the array, whose first 4 ints are `meta`. False (with a
// JS RangeError) when the rows do not match the plan.
bool plan_args(const Napi::CallbackInfo &info, size_t at, const Plan *&plan, Rows &rows, int32_t *&meta) {
  if (info.Length() < at + 4 || !info[at].IsExternal() || !info[at + 1].IsTypedArray()) return true;
  plan = info[at].As<Napi::External<Plan>>().Data();
  auto ra = info[at + 1].As<Napi::Int32Array>();
  uint32_t rowCap = info[at + 2].As<Napi::Number>().Uint32Value();
  uint32_t P = info[at + 3].As<Napi::Number>().Uint32Value();
  if (P != plan->nslots || ra.ElementLength() < 4 + size_t(rowCap) * (5 + 2 * size_t(P))) {
    Napi::RangeError::New(info.Env(), "rows buffer does not match the plan").ThrowAsJavaScriptException();
    return false;
  }
  int32_t *base = ra.Data();
  meta = base;
  rows.rowNode = base + 4;
  rows.slots = rows.rowNode + rowCap;
  rows.syms = rows.slots + size_t(rowCap) * P;
  rows.times = rows.syms + size_t(rowCap) * P;
  rows.skip = rows.times + size_t(rowCap) * 3;
  rows.cap = rowCap;
  rows.P = P;
  return true;
}

// parse(buf, start, end, table: ArrayBuffer, capacity, plan|null, rows: Int32Array|null, rowCap, slotsPerRow)
//   -> node count (>0), 0 invalid JSON, -1 more nodes needed, -2 more rows needed.
// rows layout: [meta(4) | rowNode(rowCap) | slots(rowCap*P) | syms(rowCap*P) | times(rowCap*3) | skip(rowCap)];
// meta[0] = rows used, meta[1] = nodes needed, meta[2] = rows needed.
Napi::Value Parse(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsTypedArray() || !info[3].IsArrayBuffer()) {
    Napi::TypeError::New(env, "parse(buf, start, end, table, capacity[, plan, rows, rowCap, slotsPerRow])").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto arr = info[0].As<Napi::Uint8Array>();
  uint32_t start, end;
  if (!byte_range(info, arr, start, end)) return env.Null();
  auto ab = info[3].As<Napi::ArrayBuffer>();
  uint32_t cap = info[4].As<Napi::Number>().Uint32Value();
  if (!table_fits(env, ab, cap)) return env.Null();
  const Plan *plan = nullptr;
  Rows rows;
  int32_t metaLocal[4] = {0, 0, 0, 0};
  int32_t *meta = metaLocal;
  if (!plan_args(info, 5, plan, rows, meta)) return env.Null();
  meta[0] = meta[1] = meta[2] = 0;
  Table t = table_view(static_cast<uint8_t *>(ab.Data()), cap);
  const uint8_t *data = arr.Data();
  rows.count = 0;
  int64_t r = extractor().parse(data + start, end - start, start, t, plan, rows, meta);
  if (r > 0 && plan != nullptr) {
    t.size = uint32_t(r);
    pf_verdicts(*plan, t, data, arr.ByteLength(), rows);
  }
  return Napi::Number::New(env, double(r));
}

// parseBatch(buf, ranges: Uint32Array, from, count, table, capacity, plan|null, rows|null,
//            rowCap, slotsPerRow, roots: Int32Array) -> documents done
// Parses ranges[2k], ranges[2k+1] for k in [from, from+count) into one table. roots[k-from]
// is each document's root node, or -1 when it is not valid JSON. Stops early (returning
// how many were done) when the table or the rows are full: meta[1] / meta[2] then say how
// much one document needs.
Napi::Value ParseBatch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 11 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[4].IsArrayBuffer() || !info[10].IsTypedArray()) {
    Napi::TypeError::New(env, "parseBatch(buf, ranges, from, count, table, capacity, plan, rows, rowCap, slotsPerRow, roots)").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto arr = info[0].As<Napi::Uint8Array>();
  auto ranges = info[1].As<Napi::Uint32Array>();
  uint32_t from = info[2].As<Napi::Number>().Uint32Value();
  uint32_t count = info[3].As<Napi::Number>().Uint32Value();
  auto ab = info[4].As<Napi::ArrayBuffer>();
  uint32_t cap = info[5].As<Napi::Number>().Uint32Value();
  auto roots = info[10].As<Napi::Int32Array>();
  if (size_t(from + count) * 2 > ranges.ElementLength() || roots.ElementLength() < count) {
    Napi::RangeError::New(env, "ranges/roots too short").ThrowAsJavaScriptException();
    return env.Null();
  }
  if (!table_fits(env, ab, cap)) return env.Null();
  const Plan *plan = nullptr;
  Rows rows;
  int32_t metaLocal[4] = {0, 0, 0, 0};
  int32_t *meta = metaLocal;
  if (!plan_args(info, 6, plan, rows, meta)) return env.Null();
  meta[0] = meta[1] = meta[2] = 0;
  Table t = table_view(static_cast<uint8_t *>(ab.Data()), cap);
  const uint8_t *data = arr.Data();
  const uint32_t *rg = ranges.Data();
  int32_t *out = roots.Data();
  const size_t blen = arr.ByteLength();
  rows.count = 0;
  uint32_t done = 0;
  bool combined = count >= 2;
  for (uint32_t d = 0; d < count; d++) {
    uint32_t s = rg[2 * (from + d)], e = rg[2 * (from + d) + 1];
    if (e > blen || s > e) {
      Napi::RangeError::New(env, "range outside the buffer").ThrowAsJavaScriptException();
      return env.Null();
    }
  }
  while (done < count) {
    if (combined && count - done >= 2) {
      uint32_t completed = 0;
      auto st = extractor().span(data, rg, from + done, count - done, t, plan, rows, meta, out + done, &completed);
      done += completed;
      if (st == Extractor::SPAN_CAPACITY) break;
      if (st != Extractor::SPAN_ALL) combined = false;
      continue;
    }
    uint32_t s = rg[2 * (from + done)], e = rg[2 * (from + done) + 1];
    uint32_t root = t.size;
    int64_t r = extractor().append(data + s, e - s, s, t, plan, rows, meta);
    if (r > 0) out[done] = int32_t(root);
    else if (r == 0) out[done] = -1;
    else break;
    done++;
  }
  meta[0] = int32_t(rows.count);
  meta[3] = int32_t(t.size);
  if (plan != nullptr) pf_verdicts(*plan, t, data, blen, rows);
  // Documents that are plainly one event (its own root row, kind Event unless items, the
  // time parsed, the size under the limit: Processor.plainEventRow) that no rule can
  // match are marked -2, so JavaScript passes them by without looking.
  if (plan != nullptr && !plan->pf.empty() && rows.skip != nullptr && info.Length() >= 14 && info[11].IsNumber()) {
    const bool items = info[11].As<Napi::Number>().Int32Value() != 0;
    const double maxSize = info[12].As<Napi::Number>().DoubleValue();
    const int32_t eventSym = info[13].As<Napi::Number>().Int32Value();
    const int32_t nRules = plan->pf[1];
    uint32_t r = 0;
    for (uint32_t d = 0; d < done; d++) {
      const int32_t root = out[d];
      if (root < 0) continue;
      while (r < rows.count && rows.rowNode[r] < root) r++;
      if (r >= rows.count || rows.rowNode[r] != root) continue;
      if (!items && (eventSym < 0 || rows.syms[size_t(r) * rows.P + KIND_SLOT] != eventSym)) continue;
      if (double(t.ve[root]) - double(t.vs[root]) > maxSize) continue;
      if (rows.times[size_t(r) * 3] < 0 || rows.skip[r] < nRules) continue;
      out[d] = -2;
    }
  }
  return Napi::Number::New(env, double(done));
}

// splitBody(buf, start, end, ranges: Uint32Array) -> event count (the first
// ranges.length / 2 of their [start, end) pairs written), or -1: let split.ts decide.
Napi::Value SplitBody(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[3].IsTypedArray()) {
    Napi::TypeError::New(env, "splitBody(buf, start, end, ranges)").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto arr = info[0].As<Napi::Uint8Array>();
  uint32_t start, end;
  if (!byte_range(info, arr, start, end)) return env.Null();
  auto ranges = info[3].As<Napi::Uint32Array>();
  const uint32_t cap = uint32_t(ranges.ElementLength() / 2);
  int64_t r = extractor().split(arr.Data() + start, end - start, start, ranges.Data(), cap);
  return Napi::Number::New(env, double(r));
}

// whitespaceScan(buf, start, end) -> the offset of the first whitespace outside strings
// in [start, end), or -1 (the text is compact already). The reference is compactRaw's
// loop in src/events/nodes.ts: inside a string a backslash skips the byte after it.
Napi::Value WhitespaceScan(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "whitespaceScan(buf, start, end)").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto arr = info[0].As<Napi::Uint8Array>();
  uint32_t start, end;
  if (!byte_range(info, arr, start, end)) return env.Null();
  const uint8_t *data = arr.Data(), *p = data + start, *e = data + end;
  while (p < e) {
    const uint8_t c = *p++;
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') return Napi::Number::New(env, double(p - 1 - data));
    if (c != '"') continue;
    // A string: to its closing quote, 16 bytes at a time between quotes and backslashes.
    for (;;) {
#if defined(__SSE2__)
      const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
      while (e - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
        const unsigned m = unsigned(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash))));
        if (m != 0) {
          p += __builtin_ctz(m);
          break;
        }
        p += 16;
      }
#endif
      while (p < e && *p != '"' && *p != '\\') p++;
      if (p >= e) break;
      if (*p++ == '"') break;
      p++;
    }
  }
  return Napi::Number::New(env, -1);
}

// ---- LDP frames (src/ingest/ldp/unwrap.ts is the reference; this takes the usual
// frames and defers every other one to it)

namespace ldp {

enum Status : int32_t { OK = 0, FRAME_NOT_JSON = 1, NO_MESSAGE = 2, MESSAGE_NOT_JSON = 3, NO_SHORT_MESSAGE = 4, DEFER = -1 };

// The usual frame, read in one pass without a DOM: ASCII only, keys without escapes,
// one `message` string holding an object with one string `short_message`, numbers
// without exponents. Anything else is DEFER, for the DOM path to decide, so this path
// needs to be right only about what it accepts (tested against unwrap.ts).
namespace fast {

// Bytes that end a run of plain string characters: quote, backslash, control, non-ASCII.
struct Special {
  bool t[256];
  constexpr Special() : t() {
    for (int c = 0; c < 256; c++) t[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
  }
};
constexpr Special kSpecial;

// What a one-character escape other than \u stands for (0: not one).
struct Unescape {
  uint8_t t[256];
  constexpr Unescape() : t() {
    t['"'] = '"';
    t['\\'] = '\\';
    t['/'] = '/';
    t['b'] = '\b';
    t['f'] = '\f';
    t['n'] = '\n';
    t['r'] = '\r';
    t['t'] = '\t';
  }
};
constexpr Unescape kUnescape;
constexpr int kMaxDepth = 64;

inline void ws(const uint8_t *&p, const uint8_t *e) {
  while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
}

inline int hex(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

#if defined(__SSE2__)
// Bytes 0..15 of p that are special, as a bit mask (signed compare: from 0x80 is negative).
inline unsigned special_mask(__m128i v) {
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
  return unsigned(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)), _mm_cmplt_epi8(v, space))));
}
#endif

// The plain run at p copied onto w, up to the next special byte (or e). w has 16 bytes of
// room beyond what it decodes: blocks are stored whole.
inline void copy_run(const uint8_t *&p, const uint8_t *e, uint8_t *&w) {
#if defined(__SSE2__)
  while (e - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
    const unsigned m = special_mask(v);
    _mm_storeu_si128(reinterpret_cast<__m128i *>(w), v);
    if (m != 0) {
      const unsigned k = unsigned(__builtin_ctz(m));
      p += k;
      w += k;
      return;
    }
    p += 16;
    w += 16;
  }
#endif
  while (p < e && !kSpecial.t[*p]) *w++ = *p++;
}

inline void skip_run(const uint8_t *&p, const uint8_t *e) {
#if defined(__SSE2__)
  while (e - p >= 16) {
    const unsigned m = special_mask(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
    if (m != 0) {
      p += __builtin_ctz(m);
      return;
    }
    p += 16;
  }
#endif
  while (p < e && !kSpecial.t[*p]) p++;
}

// One escape at p (its backslash) decoded onto w, p past it. Surrogates defer (Go and
// simdjson differ on lone ones).
inline bool unescape_one(const uint8_t *&p, const uint8_t *e, uint8_t *&w) {
  if (e - p < 2) return false;
  const uint8_t x = p[1];
  p += 2;
  switch (x) {
    case '"': *w++ = '"'; return true;
    case '\\': *w++ = '\\'; return true;
    case '/': *w++ = '/'; return true;
    case 'b': *w++ = '\b'; return true;
    case 'f': *w++ = '\f'; return true;
    case 'n': *w++ = '\n'; return true;
    case 'r': *w++ = '\r'; return true;
    case 't': *w++ = '\t'; return true;
    case 'u': break;
    default: return false;
  }
  if (e - p < 4) return false;
  const int a = hex(p[0]), b = hex(p[1]), c = hex(p[2]), d = hex(p[3]);
  if ((a | b | c | d) < 0) return false;
  const uint32_t cp = uint32_t(a << 12 | b << 8 | c << 4 | d);
  p += 4;
  if (cp >= 0xD800 && cp <= 0xDFFF) return false;
  if (cp < 0x80) {
    *w++ = uint8_t(cp);
  } else if (cp < 0x800) {
    *w++ = uint8_t(0xC0 | cp >> 6);
    *w++ = uint8_t(0x80 | (cp & 0x3F));
  } else {
    *w++ = uint8_t(0xE0 | cp >> 12);
    *w++ = uint8_t(0x80 | ((cp >> 6) & 0x3F));
    *w++ = uint8_t(0x80 | (cp & 0x3F));
  }
  return true;
}

#if defined(__SSE2__)
constexpr uint64_t kEven = 0x5555555555555555ULL;

// The bytes of a 64-byte block at p whose bit is set in `keep` (none from bit n on),
// packed onto w, 8 at a time; up to 8 bytes beyond are written over (w has the room).
inline uint8_t *pack64(const uint8_t *p, uint64_t keep, unsigned n, uint8_t *w) {
  for (unsigned g = 0; g < n; g += 8) {
    const unsigned m = unsigned(keep >> g) & 0xFF;
    if (m == 0xFF) {
      std::memcpy(w, p + g, 8);
      w += 8;
      continue;
    }
    for (unsigned b = 0; b < 8; b++) {
      *w = p[g + b];
      w += (m >> b) & 1;
    }
  }
  return w;
}

#if defined(PEREGRINE_SSSE3)
// For each byte mask, the indices of its set bits (then 0x80: a zero byte).
struct PackTable {
  uint8_t t[256][8];
  constexpr PackTable() : t() {
    for (int m = 0; m < 256; m++) {
      int k = 0;
      for (int b = 0; b < 8; b++) if ((m >> b) & 1) t[m][k++] = uint8_t(b);
      while (k < 8) t[m][k++] = 0x80;
    }
  }
};
constexpr PackTable kPack;

// pack64 with a shuffle per 8 bytes (SSSE3; every x86-64 CPU since about 2011 has it).
__attribute__((target("ssse3,popcnt"), noinline)) uint8_t *pack64_ssse3(const uint8_t *p, uint64_t keep, unsigned n, uint8_t *w) {
  for (unsigned g = 0; g < n; g += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + g));
    const unsigned m0 = unsigned(keep >> g) & 0xFF, m1 = unsigned(keep >> (g + 8)) & 0xFF;
    const __m128i lo = _mm_shuffle_epi8(v, _mm_loadl_epi64(reinterpret_cast<const __m128i *>(kPack.t[m0])));
    const __m128i hi = _mm_shuffle_epi8(_mm_srli_si128(v, 8), _mm_loadl_epi64(reinterpret_cast<const __m128i *>(kPack.t[m1])));
    _mm_storel_epi64(reinterpret_cast<__m128i *>(w), lo);
    w += __builtin_popcount(m0);
    _mm_storel_epi64(reinterpret_cast<__m128i *>(w), hi);
    w += __builtin_popcount(m1);
  }
  return w;
}
const bool kHasSsse3 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("popcnt");
}();
#else
constexpr bool kHasSsse3 = false;
inline uint8_t *pack64_ssse3(const uint8_t *p, uint64_t keep, unsigned n, uint8_t *w) { return pack64(p, keep, n, w); }
#endif
#endif

// The string at p (its opening quote) decoded onto w (w has 16 bytes of room beyond
// what it decodes); p past the closing quote. A double-wrapped event has a backslash in
// every four bytes, so 64-byte blocks are decoded from bit masks: the escaping
// backslashes of each run (its first, third, ...) are dropped and the character after
// each kept, which is the whole decoding for \" \\ and \/; the other escapes, the tail
// and anything odd go one at a time.
inline bool decode(const uint8_t *&p, const uint8_t *e, uint8_t *&w, bool ssse3) {
  p++;
#if defined(__SSE2__)
  const __m128i bslash = _mm_set1_epi8('\\'), quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('/'), space = _mm_set1_epi8(0x20);
  while (e - p >= 64) {
    uint64_t bs = 0, q = 0, sl = 0, odd = 0;
    for (unsigned i = 0; i < 4; i++) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 16 * i));
      bs |= uint64_t(uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(v, bslash)))) << (16 * i);
      q |= uint64_t(uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)))) << (16 * i);
      sl |= uint64_t(uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(v, slash)))) << (16 * i);
      // Controls and (signed: negative) non-ASCII bytes.
      odd |= uint64_t(uint32_t(_mm_movemask_epi8(_mm_cmplt_epi8(v, space)))) << (16 * i);
    }
    // Runs of backslashes: those starting at an even bit escape at even bits, and so on.
    const uint64_t starts = bs & ~(bs << 1);
    const uint64_t evenRuns = bs & ~(bs + (starts & kEven));
    const uint64_t escapers = (evenRuns & kEven) | (bs & ~evenRuns & ~kEven);
    // A backslash in the last byte escapes the next block's first: leave it to that block.
    const unsigned n = (escapers >> 63) != 0 ? 63 : 64;
    const uint64_t inBlock = n == 64 ? ~uint64_t(0) : (uint64_t(1) << 63) - 1;
    const uint64_t escaped = escapers << 1;
    // Where plain decoding stops: the closing quote, a control or non-ASCII byte (defer),
    // or an escape other than \" \\ \/ (its backslash).
    const uint64_t end = ((q | odd) & ~escaped) | ((escaped & ~(q | bs | sl)) >> 1);
    const uint64_t stop = end & inBlock;
    if (stop == 0) {
      w = ssse3 ? pack64_ssse3(p, ~escapers & inBlock, n, w) : pack64(p, ~escapers & inBlock, n, w);
      p += n;
      continue;
    }
    const unsigned k = unsigned(__builtin_ctzll(stop));
    w = ssse3 ? pack64_ssse3(p, ~escapers & ((uint64_t(1) << k) - 1), k, w) : pack64(p, ~escapers & ((uint64_t(1) << k) - 1), k, w);
    p += k;
    if (*p == '"') { p++; return true; }
    if (*p != '\\' || !unescape_one(p, e, w)) return false;
  }
#endif
  for (;;) {
    copy_run(p, e, w);
    if (p >= e) return false;
    if (*p == '"') { p++; return true; }
    if (*p != '\\' || !unescape_one(p, e, w)) return false;
  }
}

// A string at p checked and skipped; `escaped` says whether it held a backslash.
inline bool skip_string(const uint8_t *&p, const uint8_t *e, bool &escaped) {
  p++;
  escaped = false;
  for (;;) {
    skip_run(p, e);
    if (p >= e) return false;
    if (*p == '"') { p++; return true; }
    if (*p != '\\' || e - p < 2) return false;
    escaped = true;
    const uint8_t x = p[1];
    p += 2;
    if (x == 'u') {
      if (e - p < 4 || (hex(p[0]) | hex(p[1]) | hex(p[2]) | hex(p[3])) < 0) return false;
      p += 4;
    } else if (x != '"' && x != '\\' && x != '/' && x != 'b' && x != 'f' && x != 'n' && x != 'r' && x != 't') {
      return false;
    }
  }
}

// A JSON number; long ones and exponents defer (whether they fit a double is not asked here).
inline bool skip_number(const uint8_t *&p, const uint8_t *e) {
  const uint8_t *s = p;
  if (p < e && *p == '-') p++;
  if (p >= e || *p < '0' || *p > '9') return false;
  if (*p == '0') p++;
  else while (p < e && *p >= '0' && *p <= '9') p++;
  if (p < e && *p == '.') {
    p++;
    if (p >= e || *p < '0' || *p > '9') return false;
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) return false;
  return p - s <= 15;
}

inline bool literal(const uint8_t *&p, const uint8_t *e, const char *word, size_t n) {
  if (size_t(e - p) < n || std::memcmp(p, word, n) != 0) return false;
  p += n;
  return true;
}

bool skip_value(const uint8_t *&p, const uint8_t *e, int depth) {
  if (p >= e) return false;
  bool esc;
  switch (*p) {
    case '"': return skip_string(p, e, esc);
    case 't': return literal(p, e, "true", 4);
    case 'f': return literal(p, e, "false", 5);
    case 'n': return literal(p, e, "null", 4);
    case '{':
    case '[': {
      if (depth >= kMaxDepth) return false;
      const uint8_t close = *p == '{' ? '}' : ']';
      const bool obj = close == '}';
      p++;
      ws(p, e);
      if (p < e && *p == close) { p++; return true; }
      for (;;) {
        if (obj) {
          if (p >= e || *p != '"' || !skip_string(p, e, esc)) return false;
          ws(p, e);
          if (p >= e || *p != ':') return false;
          p++;
          ws(p, e);
        }
        if (!skip_value(p, e, depth + 1)) return false;
        ws(p, e);
        if (p >= e) return false;
        if (*p == ',') { p++; ws(p, e); continue; }
        if (*p == close) { p++; return true; }
        return false;
      }
    }
    default: return skip_number(p, e);
  }
}

// A member key without escapes at p: [k, k + n), p past its colon and the spaces after.
inline bool key(const uint8_t *&p, const uint8_t *e, const uint8_t *&k, size_t &n) {
  if (p >= e || *p != '"') return false;
  k = p + 1;
  bool esc;
  if (!skip_string(p, e, esc) || esc) return false;
  n = size_t(p - 1 - k);
  ws(p, e);
  if (p >= e || *p != ':') return false;
  p++;
  ws(p, e);
  return true;
}

// After a member: true at a comma (p past it), false at the closing brace (p past it);
// `ok` false on anything else.
inline bool next_member(const uint8_t *&p, const uint8_t *e, bool &ok) {
  ws(p, e);
  ok = p < e && (*p == ',' || *p == '}');
  if (!ok) return false;
  const bool more = *p == ',';
  p++;
  ws(p, e);
  return more;
}

inline bool is_message(const uint8_t *k, size_t n) {
  if (n != 7) return false;
  static const char m[] = "message";
  for (size_t i = 0; i < 7; i++) if ((k[i] | 0x20) != m[i]) return false;
  return true;
}

// The frame's payload appended to out, or false (nothing appended) to defer.
bool unwrap(const uint8_t *f, size_t len, std::vector<uint8_t> &scratch, std::vector<uint8_t> &out, bool ssse3) {
  const uint8_t *p = f, *e = f + len;
  ws(p, e);
  if (p >= e || *p != '{') return false;
  p++;
  ws(p, e);
  if (scratch.size() < len + 16) scratch.resize(len + 16);
  uint8_t *w = scratch.data();
  bool found = false, ok = true;
  do {
    const uint8_t *k;
    size_t n;
    if (!key(p, e, k, n)) return false;
    if (is_message(k, n)) {
      if (found || p >= e || *p != '"') return false;
      found = true;
      if (!decode(p, e, w, ssse3)) return false;
    } else if (!skip_value(p, e, 1)) {
      return false;
    }
  } while (next_member(p, e, ok));
  if (!ok || !found) return false;
  ws(p, e);
  if (p != e) return false;

  // The GELF record in scratch.
  const uint8_t *q = scratch.data(), *qe = w;
  ws(q, qe);
  if (q >= qe || *q != '{') return false;
  q++;
  ws(q, qe);
  const size_t before = out.size();
  out.resize(before + size_t(qe - q) + 16);
  uint8_t *o = out.data() + before;
  bool has_short = false, has_app = false;
  ok = true;
  do {
    const uint8_t *k;
    size_t n;
    if (!key(q, qe, k, n)) { ok = false; break; }
    if (n == 13 && std::memcmp(k, "short_message", 13) == 0) {
      if (has_short || q >= qe || *q != '"' || !decode(q, qe, o, ssse3)) { ok = false; break; }
      has_short = true;
    } else if (n == 6 && std::memcmp(k, "_appID", 6) == 0) {
      if (has_app || q >= qe) { ok = false; break; }
      has_app = true;
      // The template prints _appID before "> ": one holding "> " (or escapes, or a
      // composite printed as Go prints maps) defers.
      if (*q == '[' || *q == '{') { ok = false; break; }
      if (*q == '"') {
        const uint8_t *a = q + 1;
        bool esc;
        if (!skip_string(q, qe, esc) || esc) { ok = false; break; }
        for (const uint8_t *c = a; c + 1 < q - 1; c++) if (c[0] == '>' && c[1] == ' ') { ok = false; break; }
        if (!ok) break;
      } else if (!skip_value(q, qe, 1)) {
        ok = false;
        break;
      }
    } else if (!skip_value(q, qe, 1)) {
      ok = false;
      break;
    }
  } while (next_member(q, qe, ok));
  if (ok) {
    ws(q, qe);
    ok = q == qe && has_short;
  }
  if (!ok) {
    out.resize(before);
    return false;
  }
  out.resize(size_t(o - out.data()));
  return true;
}

}  // namespace fast

struct Unwrapper {
  simdjson::dom::parser outer;
  simdjson::dom::parser inner;
  std::vector<uint8_t> scratch;
  std::vector<uint8_t> frame;
  std::vector<uint8_t> out;

  // ASCII case folding only: a key with other bytes (the long s folds to s in Go) defers.
  static int message_key(std::string_view k) {
    if (k.size() < 7) return 0;
    for (unsigned char c : k) if (c >= 0x80) return -1;
    if (k.size() != 7) return 0;
    static const char m[] = "message";
    for (size_t i = 0; i < 7; i++) {
      char c = k[i];
      if (c >= 'A' && c <= 'Z') c = char(c + 32);
      if (c != m[i]) return 0;
    }
    return 1;
  }

  // The payload of one frame into `out` (at `at`), or a status.
  int32_t unwrap(const uint8_t *frame, size_t len, std::vector<uint8_t> &out) {
    simdjson::dom::element root;
    if (outer.parse(frame, len, false).get(root) != simdjson::SUCCESS) return DEFER;
    if (root.type() == simdjson::dom::element_type::NULL_VALUE) return NO_MESSAGE;
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS) return NO_MESSAGE;
    std::string_view message;
    bool found = false;
    for (auto field : obj) {
      const int m = message_key(field.key);
      if (m < 0) return DEFER;
      if (m == 0) continue;
      if (found) return DEFER;  // several: decoded in order by the reference
      found = true;
      if (field.value.type() == simdjson::dom::element_type::NULL_VALUE) continue;
      if (field.value.get_string().get(message) != simdjson::SUCCESS) return NO_MESSAGE;
    }
    if (message.empty()) return NO_MESSAGE;
    // The inner document needs its own copy (with simdjson's padding).
    scratch.assign(message.begin(), message.end());
    scratch.resize(message.size() + simdjson::SIMDJSON_PADDING);
    simdjson::dom::element rec;
    if (inner.parse(scratch.data(), message.size(), false).get(rec) != simdjson::SUCCESS) return DEFER;
    if (rec.type() == simdjson::dom::element_type::NULL_VALUE) return NO_SHORT_MESSAGE;
    simdjson::dom::object r;
    if (rec.get_object().get(r) != simdjson::SUCCESS) return MESSAGE_NOT_JSON;
    simdjson::dom::element shortv, appid;
    bool has_short = false, has_app = false;
    for (auto field : r) {
      if (field.key == "short_message") { shortv = field.value; has_short = true; }
      else if (field.key == "_appID") { appid = field.value; has_app = true; }
    }
    std::string_view text;
    if (!has_short || shortv.get_string().get(text) != simdjson::SUCCESS) return NO_SHORT_MESSAGE;
    if (has_app) {
      switch (appid.type()) {
        case simdjson::dom::element_type::STRING: {
          std::string_view a;
          if (appid.get_string().get(a) != simdjson::SUCCESS || a.find("> ") != std::string_view::npos) return DEFER;
          break;
        }
        case simdjson::dom::element_type::ARRAY:
        case simdjson::dom::element_type::OBJECT:
          return DEFER;
        default:
          break;
      }
    }
    out.insert(out.end(), text.begin(), text.end());
    return OK;
  }
};

Unwrapper &unwrapper() {
  static thread_local Unwrapper u;
  return u;
}

}  // namespace ldp

// unwrapLdp(buf, ranges: Uint32Array, count, status: Int32Array, tiers?, into?) -> Buffer of the
// payloads; status[i] is 0 (payload i follows the previous one; its length in
// status[count + i]), a skip reason (1 frame_not_json .. 4 no_short_message), or -1:
// the frame is for unwrap.ts to decide.
Napi::Value UnwrapLdp(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[3].IsTypedArray()) {
    Napi::TypeError::New(env, "unwrapLdp(buf, ranges, count, status)").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto buf = info[0].As<Napi::Uint8Array>();
  auto ranges = info[1].As<Napi::Uint32Array>();
  const uint32_t count = info[2].As<Napi::Number>().Uint32Value();
  auto status = info[3].As<Napi::Int32Array>();
  // Which paths to try (tests and benches): 1 the one-pass path, 2 simdjson's DOM, 3 both;
  // + 4: the one-pass path without SSSE3 even where the CPU has it.
  const int tiers = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : 3;
  const bool ssse3 = ldp::fast::kHasSsse3 && (tiers & 4) == 0;
  if (size_t(count) * 2 > ranges.ElementLength() || size_t(count) * 2 > status.ElementLength()) {
    Napi::RangeError::New(env, "ranges or status shorter than count").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto &u = ldp::unwrapper();
  // Payloads are never longer than their frames: one allocation.
  std::vector<uint8_t> &out = u.out;
  out.clear();
  out.reserve(buf.ByteLength());
  std::vector<uint8_t> &padded = u.frame;
  const uint8_t *data = buf.Data();
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t s = ranges[2 * i], e = ranges[2 * i + 1];
    if (e < s || e > buf.ByteLength()) {
      Napi::RangeError::New(env, "range outside the buffer").ThrowAsJavaScriptException();
      return env.Null();
    }
    const size_t before = out.size();
    int32_t st = ldp::DEFER;
    if ((tiers & 1) != 0 && ldp::fast::unwrap(data + s, e - s, u.scratch, out, ssse3)) {
      st = ldp::OK;
    } else if ((tiers & 2) != 0) {
      padded.assign(data + s, data + e);
      padded.resize(size_t(e - s) + simdjson::SIMDJSON_PADDING);
      st = u.unwrap(padded.data(), e - s, out);
    }
    status[i] = st;
    status[count + i] = int32_t(out.size() - before);
  }
  // Into the caller's buffer when given (a worker reuses one: no allocation per task).
  if (info.Length() > 5 && info[5].IsTypedArray()) {
    auto into = info[5].As<Napi::Uint8Array>();
    if (into.ByteLength() < out.size()) {
      Napi::RangeError::New(env, "unwrapLdp: output buffer too small").ThrowAsJavaScriptException();
      return env.Null();
    }
    std::memcpy(into.Data(), out.data(), out.size());
    return Napi::Number::New(env, double(out.size()));
  }
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
}

Napi::Value Implementation(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), simdjson::get_active_implementation()->name());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("parse", Napi::Function::New(env, Parse));
  exports.Set("compilePlan", Napi::Function::New(env, CompilePlan));
  exports.Set("parseBatch", Napi::Function::New(env, ParseBatch));
  exports.Set("splitBody", Napi::Function::New(env, SplitBody));
  exports.Set("unwrapLdp", Napi::Function::New(env, UnwrapLdp));
  exports.Set("whitespaceScan", Napi::Function::New(env, WhitespaceScan));
  exports.Set("implementation", Napi::Function::New(env, Implementation));
  exports.Set("simdjsonVersion", Napi::String::New(env, SIMDJSON_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(peregrine_json, Init)
