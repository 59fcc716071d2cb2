// Native JSON extractor: simdjson's SIMD stage 1 finds every structural character and
// token start; a small stage 2 below turns those indexes into Peregrine's node table
// (the same layout src/events/nodes.ts reads and src/events/json-parse.ts fills), with
// byte offsets into the caller's buffer and no copies of strings.
//
// Validation matches the TypeScript parser: strict RFC 8259 grammar, number syntax,
// escape sequences, UTF-8 and unescaped control characters (stage 1), depth <= 300.
// On any error it returns 0 and the JavaScript side re-parses with the TypeScript
// parser to report the exact same message.
#include <napi.h>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>
#include "simdjson.h"

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

// Checks escapes in a string body [p, e); sets *esc when there is any.
bool check_string(const uint8_t *p, const uint8_t *e, bool *esc) {
  const uint8_t *q = static_cast<const uint8_t *>(memchr(p, '\\', size_t(e - p)));
  if (q == nullptr) { *esc = false; return true; }
  *esc = true;
  while (q < e) {
    if (*q != '\\') { q++; continue; }
    if (q + 1 >= e) return false;
    switch (q[1]) {
      case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        q += 2; break;
      case 'u':
        if (q + 6 > e || !is_hex(q[2]) || !is_hex(q[3]) || !is_hex(q[4]) || !is_hex(q[5])) return false;
        q += 6; break;
      default:
        return false;
    }
  }
  return true;
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

class Extractor {
 public:
  // Parses buf[0, len) (offsets reported + `base`); returns node count, 0 on invalid
  // JSON, or -(needed capacity) when the table is too small.
  int64_t parse(const uint8_t *buf, uint32_t len, uint32_t base, Table &t) {
    if (len == 0) return 0;
    if (!impl_ || impl_->capacity() < len) {
      size_t cap = len < 65536 ? 65536 : size_t(len) + len / 4;
      if (!impl_) {
        if (simdjson::get_active_implementation()->create_dom_parser_implementation(cap, MAX_DEPTH + 8, impl_) != simdjson::SUCCESS) return 0;
      } else if (impl_->allocate(cap, MAX_DEPTH + 8) != simdjson::SUCCESS) {
        impl_.reset();
        return 0;
      }
    }
    if (impl_->stage1(buf, len, simdjson::stage1_mode::regular) != simdjson::SUCCESS) return 0;
    const uint32_t n = impl_->n_structural_indexes;
    if (n > t.cap) return -int64_t(n);
    const uint32_t *si = impl_->structural_indexes.get();
    return stage2(buf, len, base, si, n, t);
  }

 private:
  std::unique_ptr<simdjson::internal::dom_parser_implementation> impl_;
  std::vector<int32_t> stack_;
  std::vector<int32_t> last_;

  // End (exclusive) of a scalar token starting at `start`, given the next structural.
  static uint32_t token_end(const uint8_t *buf, uint32_t start, uint32_t next) {
    uint32_t e = next;
    while (e > start && is_ws(buf[e - 1])) e--;
    return e;
  }

  int64_t stage2(const uint8_t *buf, uint32_t len, uint32_t base, const uint32_t *si, uint32_t n, Table &t) {
    stack_.clear();
    last_.clear();
    uint32_t i = 0;
    int32_t cur = -1;
    int32_t lastChild = -1;
    for (;;) {
      uint32_t keyStart = 0, keyEnd = 0;
      uint8_t keyEsc = 0;
      if (i >= n) return 0;
      if (cur != -1 && (t.kind[cur] & 0x0f) == OBJ) {
        uint32_t k = si[i];
        if (buf[k] != '"') return 0;
        uint32_t next = i + 1 < n ? si[i + 1] : len;
        uint32_t close = token_end(buf, k, next);
        if (close <= k + 1 || buf[close - 1] != '"') return 0;
        bool esc;
        if (!check_string(buf + k + 1, buf + close - 1, &esc)) return 0;
        keyStart = k + 1;
        keyEnd = close - 1;
        keyEsc = esc ? F_KEY_ESC : 0;
        i++;
        if (i >= n || buf[si[i]] != ':') return 0;
        i++;
        if (i >= n) return 0;
      }
      uint32_t p = si[i];
      uint8_t c = buf[p];
      uint32_t next = i + 1 < n ? si[i + 1] : len;
      int32_t node = int32_t(t.size);
      if (t.size >= t.cap) return -int64_t(n);
      bool opened = false;
      uint8_t kind;
      uint32_t vs = p, ve = p;
      if (c == '{' || c == '[') {
        kind = c == '{' ? OBJ : ARR;
        opened = true;
      } else if (c == '"') {
        uint32_t close = token_end(buf, p, next);
        if (close <= p + 1 || buf[close - 1] != '"') return 0;
        bool esc;
        if (!check_string(buf + p + 1, buf + close - 1, &esc)) return 0;
        kind = esc ? uint8_t(STR | F_VAL_ESC) : STR;
        vs = p + 1;
        ve = close - 1;
      } else if (c == '-' || is_digit(c)) {
        uint32_t e = token_end(buf, p, next);
        if (!check_number(buf + p, buf + e)) return 0;
        kind = NUM;
        ve = e;
      } else {
        uint32_t e = token_end(buf, p, next);
        uint32_t l = e - p;
        if (l == 4 && memcmp(buf + p, "true", 4) == 0) kind = TRUE_;
        else if (l == 5 && memcmp(buf + p, "false", 5) == 0) kind = FALSE_;
        else if (l == 4 && memcmp(buf + p, "null", 4) == 0) kind = NULL_;
        else return 0;
        ve = e;
      }
      i++;
      t.size++;
      t.kind[node] = kind;
      t.vs[node] = vs + base;
      t.ve[node] = ve + base;
      t.ks[node] = 0;
      t.ke[node] = 0;
      t.first[node] = -1;
      t.next[node] = -1;
      t.count[node] = 0;
      if (cur != -1) {
        if ((t.kind[cur] & 0x0f) == OBJ) {
          t.kind[node] |= keyEsc;
          t.ks[node] = keyStart + base;
          t.ke[node] = keyEnd + base;
        }
        if (lastChild == -1) t.first[cur] = node;
        else t.next[lastChild] = node;
        lastChild = node;
        t.count[cur]++;
      }
      if (opened) {
        if (stack_.size() + (cur != -1 ? 2 : 1) > MAX_DEPTH) return 0;
        if (cur != -1) { stack_.push_back(cur); last_.push_back(lastChild); }
        cur = node;
        lastChild = -1;
        uint8_t close = c == '{' ? '}' : ']';
        if (i < n && buf[si[i]] == close) {
          t.ve[node] = si[i] + 1 + base;
          i++;
          // Closed empty container: fall through to the "after value" handling.
        } else {
          continue;
        }
      }
      // After a value: close containers or take a comma.
      for (;;) {
        if (cur == -1) return i == n ? int64_t(t.size) : 0;
        if (t.ve[cur] != t.vs[cur]) {
          if (stack_.empty()) { cur = -1; lastChild = -1; continue; }
          cur = stack_.back(); stack_.pop_back();
          lastChild = last_.back(); last_.pop_back();
          continue;
        }
        if (i >= n) return 0;
        uint8_t b = buf[si[i]];
        if (b == ',') { i++; break; }
        uint8_t close = (t.kind[cur] & 0x0f) == OBJ ? '}' : ']';
        if (b == close) {
          t.ve[cur] = si[i] + 1 + base;
          i++;
          continue;
        }
        return 0;
      }
    }
  }
};

Extractor &extractor() {
  static thread_local Extractor e;
  return e;
}

// parse(buf: Uint8Array, start, end, table: ArrayBuffer, capacity) -> number
Napi::Value Parse(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsTypedArray() || !info[3].IsArrayBuffer()) {
    Napi::TypeError::New(env, "parse(buf, start, end, table, capacity)").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto arr = info[0].As<Napi::Uint8Array>();
  uint32_t start = info[1].As<Napi::Number>().Uint32Value();
  uint32_t end = info[2].As<Napi::Number>().Uint32Value();
  auto ab = info[3].As<Napi::ArrayBuffer>();
  uint32_t cap = info[4].As<Napi::Number>().Uint32Value();
  if (end > arr.ByteLength() || start > end) {
    Napi::RangeError::New(env, "range outside the buffer").ThrowAsJavaScriptException();
    return env.Null();
  }
  size_t need = size_t(align4(cap)) + size_t(cap) * 28;
  if (ab.ByteLength() < need) {
    Napi::RangeError::New(env, "node table smaller than its capacity").ThrowAsJavaScriptException();
    return env.Null();
  }
  Table t = table_view(static_cast<uint8_t *>(ab.Data()), cap);
  const uint8_t *data = arr.Data();
  int64_t r = extractor().parse(data + start, end - start, start, t);
  return Napi::Number::New(env, double(r));
}

Napi::Value Implementation(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), simdjson::get_active_implementation()->name());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("parse", Napi::Function::New(env, Parse));
  exports.Set("implementation", Napi::Function::New(env, Implementation));
  exports.Set("simdjsonVersion", Napi::String::New(env, SIMDJSON_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(peregrine_json, Init)
