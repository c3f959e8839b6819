// The http_embeddings model kind: a client for OpenAI-compatible embeddings servers (OpenAI,
// Ollama, vLLM, llama.cpp's server), POST {url}/v1/embeddings with {"model": M, "input": [...]},
// answered by {"data": [{"embedding": [...], "index": i}, ...]}, over libcurl.
//
// Decisions:
// - url may be the server root ("http://127.0.0.1:11434"), the API root ending in "/v1" (how
//   OpenAI clients spell their base_url) or the whole ".../v1/embeddings"; all three reach the
//   same endpoint.
// - The key comes from the options, else from the configuration (embeddings_api_key,
//   SDDB_EMBEDDINGS_API_KEY). OPENAI_API_KEY is read as a last fallback only when the url's host
//   is api.openai.com: a key kept in the environment for OpenAI is never sent to another server.
// - Retried, up to max_retries more attempts: connection errors and timeouts, 408, 429 and 5xx.
//   The wait is the server's Retry-After seconds when it sends them (at most 60 s), else
//   100 ms * 2^k, at most 5 s. When the attempts run out: Error(unavailable) naming the endpoint,
//   the number of attempts and the last error.
// - Not retried: other 4xx fail at once with the status and the server's own message. 401/403
//   are failed_precondition with a hint about the key, 404 is not_found (the url or the model
//   is wrong), the rest invalid_argument (the request itself: an input too long, say).
//   Redirects are not followed (curl would turn the POST into a GET); the error names where the
//   server points.
// - A body that does not follow the protocol (not JSON, no "data", a wrong count, a bad index,
//   a non-number) is Error(unavailable, "malformed response: ...") like any broken server. A
//   vector of another length than dim is failed_precondition: the server now serves another
//   model than the record describes, which retrying cannot fix.
// - One curl easy handle per runtime, so consecutive requests reuse the connection; Model
//   serializes calls, so the handle is never used by two threads at once.

#include <curl/curl.h>

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "models/kinds.h"
#include "sddb/config.h"
#include "sddb/error.h"

namespace sddb::detail {

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};
constexpr long kMaxRetryAfterSeconds = 60;
constexpr long kMaxConnectTimeoutMs = 10000;
// Far above any batch of embeddings; a body this large is not an answer to our request.
constexpr std::size_t kMaxResponseBytes = std::size_t{256} << 20;
// How much of a server's error text goes into a message.
constexpr std::size_t kMaxServerMessage = 500;
constexpr const char* kProbeText = "sddb";
constexpr std::string_view kOpenAiHost = "api.openai.com";

void init_curl() {
  static std::once_flag once;
  // A throw leaves the flag unset, so a later call tries again.
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw Error(ErrorCode::unavailable, "http_embeddings: libcurl failed to initialize");
    }
  });
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string endpoint_of(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (ends_with(url, "/v1/embeddings")) return url;
  if (ends_with(url, "/v1")) return url + "/embeddings";
  return url + "/v1/embeddings";
}

// The lower-case host of an http(s) url, without user info or port.
std::string host_of(const std::string& url) {
  const auto sep = url.find("://");
  if (sep == std::string::npos) return {};
  const auto start = sep + 3;
  const auto end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? end : end - start);
  if (const auto at = authority.rfind('@'); at != std::string::npos) {
    authority.erase(0, at + 1);
  }
  if (!authority.empty() && authority[0] == '[') {
    authority.resize(std::min(authority.size(), authority.find(']') + 1));
  } else if (const auto colon = authority.find(':'); colon != std::string::npos) {
    authority.resize(colon);
  }
  return lower(authority);
}

std::string clip(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "(empty body)";
  s.erase(0, first);
  s.erase(s.find_last_not_of(" \t\r\n") + 1);
  if (s.size() > kMaxServerMessage) s = s.substr(0, kMaxServerMessage) + "...";
  return s;
}

// The message in an error body: OpenAI's {"error": {"message": M}}, Ollama's {"error": M},
// vLLM's {"message": M}, FastAPI's {"detail": ...}; else the body itself, clipped.
std::string server_message(const std::string& body) {
  try {
    const Value v = Value::parse(body);
    if (const Value* e = v.find("error")) {
      if (e->is_string()) return clip(e->as_string());
      if (const Value* m = e->find("message"); m != nullptr && m->is_string()) {
        return clip(m->as_string());
      }
    }
    if (const Value* m = v.find("message"); m != nullptr && m->is_string()) {
      return clip(m->as_string());
    }
    if (const Value* d = v.find("detail")) {
      return clip(d->is_string() ? d->as_string() : d->to_json());
    }
  } catch (const Error&) {
    // Not JSON: the raw text is the best message there is.
  }
  return clip(body);
}

std::string attempts_text(int n) { return std::to_string(n) + (n == 1 ? " attempt" : " attempts"); }

HttpEmbeddingOptions resolve(HttpEmbeddingOptions o) {
  if (o.url.empty() || o.model.empty() || o.api_key.empty()) {
    const Config cfg = load_config();
    if (o.url.empty()) o.url = cfg.embeddings_url;
    if (o.model.empty()) o.model = cfg.embeddings_model;
    if (o.api_key.empty()) o.api_key = cfg.embeddings_api_key;
  }
  if (o.url.empty()) {
    throw Error(ErrorCode::invalid_argument,
                "http_embeddings: no url; set embeddings_url in sddb.toml or SDDB_EMBEDDINGS_URL");
  }
  if (o.model.empty()) {
    throw Error(ErrorCode::invalid_argument,
                "http_embeddings: no model; set embeddings_model in sddb.toml or "
                "SDDB_EMBEDDINGS_MODEL");
  }
  const std::string scheme = lower(o.url.substr(0, o.url.find("://")));
  if (o.url.find("://") == std::string::npos || (scheme != "http" && scheme != "https")) {
    throw Error(ErrorCode::invalid_argument,
                "http_embeddings: url '" + o.url + "' must start with http:// or https://");
  }
  if (o.api_key.empty() && host_of(o.url) == kOpenAiHost) {
    if (const char* k = std::getenv("OPENAI_API_KEY"); k != nullptr) o.api_key = k;
  }
  if (o.api_key.find_first_of("\r\n") != std::string::npos) {
    throw Error(ErrorCode::invalid_argument, "http_embeddings: the API key contains a line break");
  }
  if (o.batch_size == 0) {
    throw Error(ErrorCode::invalid_argument, "http_embeddings: batch_size must be at least 1");
  }
  if (o.timeout_ms <= 0) {
    throw Error(ErrorCode::invalid_argument, "http_embeddings: timeout_ms must be positive, not " +
                                                 std::to_string(o.timeout_ms));
  }
  if (o.max_retries < 0) {
    throw Error(
        ErrorCode::invalid_argument,
        "http_embeddings: max_retries must not be negative, not " + std::to_string(o.max_retries));
  }
  return o;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

class HttpEmbeddings final : public ModelRuntime {
 public:
  explicit HttpEmbeddings(HttpEmbeddingOptions o)
      : o_(std::move(o)), endpoint_(endpoint_of(o_.url)), dim_(o_.dim) {
    init_curl();
    curl_.reset(curl_easy_init());
    if (!curl_) throw Error(ErrorCode::unavailable, "http_embeddings: curl_easy_init failed");
    add_header("Content-Type: application/json");
    add_header("Accept: application/json");
    add_header("Expect:");  // no 100-continue round trip before large bodies
    if (!o_.api_key.empty()) add_header("Authorization: Bearer " + o_.api_key);
    CURL* c = curl_.get();
    curl_easy_setopt(c, CURLOPT_URL, endpoint_.c_str());
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_.get());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &HttpEmbeddings::on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &response_);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &HttpEmbeddings::on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &retry_after_);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_error_);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM from timeouts in a library
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o_.timeout_ms));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     std::min(static_cast<long>(o_.timeout_ms), kMaxConnectTimeoutMs));
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // any compression curl supports
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sddb");
    if (dim_ == 0) dim_ = embed({Value(kProbeText)}, 0).at(0).size();
  }

  std::size_t dim() const override { return dim_; }

  std::vector<std::vector<float>> predict(const std::vector<Value>& inputs) override {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].is_string()) {
        throw Error(ErrorCode::invalid_argument,
                    "http_embeddings: input " + std::to_string(i) + " is " +
                        std::string(Value::type_name(inputs[i].type())) +
                        ", not a string; this model embeds texts only");
      }
    }
    std::vector<std::vector<float>> out;
    out.reserve(inputs.size());
    for (std::size_t start = 0; start < inputs.size(); start += o_.batch_size) {
      const std::size_t end = std::min(inputs.size(), start + o_.batch_size);
      Array batch(inputs.begin() + static_cast<std::ptrdiff_t>(start),
                  inputs.begin() + static_cast<std::ptrdiff_t>(end));
      for (auto& v : embed(std::move(batch), start)) out.push_back(std::move(v));
    }
    return out;
  }

  std::string save() const override { return {}; }

 private:
  void add_header(const std::string& line) {
    curl_slist* l = curl_slist_append(headers_.get(), line.c_str());
    if (l == nullptr) throw Error(ErrorCode::unavailable, "http_embeddings: out of memory");
    headers_.release();
    headers_.reset(l);
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* body = static_cast<std::string*>(user);
    const std::size_t bytes = size * n;
    if (body->size() + bytes > kMaxResponseBytes) return 0;  // curl fails with a write error
    body->append(data, bytes);
    return bytes;
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* retry_after = static_cast<std::optional<long>*>(user);
    const std::size_t bytes = size * n;
    const std::string line(data, bytes);
    // Each response (a 100 Continue, say) starts anew.
    if (line.rfind("HTTP/", 0) == 0) retry_after->reset();
    const auto colon = line.find(':');
    if (colon != std::string::npos && lower(line.substr(0, colon)) == "retry-after") {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t\r\n") + 1);
      // Only the delta-seconds form; an HTTP date falls back to the backoff.
      if (!value.empty() && value.size() <= 6 &&
          value.find_first_not_of("0123456789") == std::string::npos) {
        *retry_after = std::stol(value);
      }
    }
    return bytes;
  }

  [[noreturn]] void fail_status(long status) const {
    const std::string what = "http_embeddings: POST " + endpoint_ + ": HTTP " +
                             std::to_string(status) + ": " + server_message(response_);
    if (status == 401 || status == 403) {
      throw Error(ErrorCode::failed_precondition,
                  what +
                      (o_.api_key.empty() ? "; no API key is set" : "; the API key was refused") +
                      " (set embeddings_api_key in sddb.toml or SDDB_EMBEDDINGS_API_KEY)");
    }
    if (status == 404) {
      throw Error(ErrorCode::not_found,
                  what + "; check the url and the model name '" + o_.model + "'");
    }
    if (status >= 300 && status < 400) {
      char* location = nullptr;
      curl_easy_getinfo(curl_.get(), CURLINFO_REDIRECT_URL, &location);
      throw Error(ErrorCode::invalid_argument,
                  "http_embeddings: POST " + endpoint_ + ": HTTP " + std::to_string(status) +
                      ": the server redirects" +
                      (location != nullptr ? std::string(" to ") + location : std::string()) +
                      "; set url to the address it redirects to");
    }
    if (status >= 400 && status < 500) throw Error(ErrorCode::invalid_argument, what);
    throw Error(ErrorCode::unavailable, what);
  }

  // The body of a 2xx answer to `body`, after retries.
  std::string post(const std::string& body) {
    CURL* c = curl_.get();
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    const int attempts = o_.max_retries + 1;
    std::string last_error;
    for (int attempt = 0; attempt < attempts; ++attempt) {
      response_.clear();
      retry_after_.reset();
      curl_error_[0] = '\0';
      const CURLcode rc = curl_easy_perform(c);
      std::optional<long> wait_seconds;
      if (rc != CURLE_OK) {
        last_error = curl_easy_strerror(rc);
        if (curl_error_[0] != '\0') last_error += std::string(" (") + curl_error_ + ")";
        switch (rc) {
          case CURLE_URL_MALFORMAT:
          case CURLE_UNSUPPORTED_PROTOCOL:
            throw Error(ErrorCode::invalid_argument,
                        "http_embeddings: url '" + o_.url + "': " + last_error);
          case CURLE_WRITE_ERROR:
            throw Error(ErrorCode::unavailable,
                        "http_embeddings: POST " + endpoint_ + ": the response is larger than " +
                            std::to_string(kMaxResponseBytes >> 20) + " MiB");
          case CURLE_PEER_FAILED_VERIFICATION:
          case CURLE_SSL_CACERT_BADFILE:
          case CURLE_SSL_CERTPROBLEM:
            throw Error(ErrorCode::unavailable,
                        "http_embeddings: POST " + endpoint_ + ": " + last_error);
          default:
            break;  // connection refused, reset, timed out, ...: retry
        }
      } else {
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) return std::move(response_);
        if (status != 408 && status != 429 && status < 500) fail_status(status);
        last_error = "HTTP " + std::to_string(status) + ": " + server_message(response_);
        wait_seconds = retry_after_;
      }
      if (attempt + 1 < attempts) {
        std::chrono::milliseconds wait =
            wait_seconds
                ? std::chrono::seconds(std::min(*wait_seconds, kMaxRetryAfterSeconds))
                : std::min(kMaxBackoff, std::chrono::milliseconds(kFirstBackoff.count()
                                                                  << std::min(attempt, 10)));
        std::this_thread::sleep_for(wait);
      }
    }
    throw Error(ErrorCode::unavailable, "http_embeddings: POST " + endpoint_ + " failed after " +
                                            attempts_text(attempts) +
                                            ": last error: " + last_error);
  }

  // Embeddings of `texts` (strings), which are predict's inputs from `first` on.
  std::vector<std::vector<float>> embed(Array texts, std::size_t first) {
    const std::size_t n = texts.size();
    Value request = Value::object();
    request.set("model", Value(o_.model));
    request.set("input", Value(std::move(texts)));
    const std::string response = post(request.to_json());

    const auto malformed = [&](const std::string& what) {
      return Error(ErrorCode::unavailable,
                   "http_embeddings: malformed response from " + endpoint_ + ": " + what);
    };
    Value v;
    try {
      v = Value::parse(response);
    } catch (const Error& e) {
      throw malformed(std::string("not JSON: ") + e.what());
    }
    const Value* data = v.find("data");
    if (data == nullptr) {
      throw malformed(v.is_object() ? "no \"data\" member"
                                    : "a JSON " + std::string(Value::type_name(v.type())) +
                                          ", not an object");
    }
    if (!data->is_array()) {
      throw malformed("\"data\" is " + std::string(Value::type_name(data->type())) +
                      ", not an array");
    }
    if (data->size() != n) {
      throw malformed(std::to_string(data->size()) + " embeddings for " + std::to_string(n) +
                      (n == 1 ? " input" : " inputs"));
    }
    std::vector<std::vector<float>> out(n);
    std::vector<bool> seen(n, false);
    for (std::size_t i = 0; i < n; ++i) {
      const Value& item = data->as_array()[i];
      const std::string where = "data[" + std::to_string(i) + "]";
      std::size_t at = i;
      if (const Value* index = item.find("index")) {
        if (!index->is_int() || index->as_int() < 0 ||
            static_cast<std::uint64_t>(index->as_int()) >= n) {
          throw malformed(where + ".index is " + index->to_json() + ", not one of 0.." +
                          std::to_string(n - 1));
        }
        at = static_cast<std::size_t>(index->as_int());
      }
      if (seen[at]) throw malformed("index " + std::to_string(at) + " appears twice");
      seen[at] = true;
      const Value* embedding = item.find("embedding");
      if (embedding == nullptr || !embedding->is_array()) {
        throw malformed(where + " has no \"embedding\" array");
      }
      std::vector<float>& vec = out[at];
      vec.reserve(embedding->size());
      for (const Value& x : embedding->as_array()) {
        const double d = x.is_number() ? x.as_double() : NAN;
        if (!std::isfinite(d) || std::fabs(d) > FLT_MAX) {
          throw malformed(where + ".embedding[" + std::to_string(vec.size()) + "] is " +
                          x.to_json() + ", not a float");
        }
        vec.push_back(static_cast<float>(d));
      }
      if (vec.empty()) throw malformed(where + ".embedding is empty");
      if (dim_ != 0 && vec.size() != dim_) {
        throw Error(ErrorCode::failed_precondition,
                    "http_embeddings: model '" + o_.model + "' at " + endpoint_ +
                        " returned a vector of " + std::to_string(vec.size()) +
                        " numbers for input " + std::to_string(first + at) + "; expected " +
                        std::to_string(dim_) +
                        " (the model's dim): the server serves another "
                        "model than this one was made with");
      }
    }
    for (const auto& vec : out) {
      if (vec.size() != out[0].size()) {
        throw malformed("vectors of " + std::to_string(out[0].size()) + " and " +
                        std::to_string(vec.size()) + " numbers in one response");
      }
    }
    return out;
  }

  HttpEmbeddingOptions o_;
  std::string endpoint_;
  std::size_t dim_;
  std::unique_ptr<CURL, CurlDeleter> curl_;
  std::unique_ptr<curl_slist, SlistDeleter> headers_;
  std::string response_;
  std::optional<long> retry_after_;
  char curl_error_[CURL_ERROR_SIZE] = {};
};

const Value* param(const Value& params, const char* key, Value::Type type, const char* type_text) {
  const Value* v = params.find(key);
  if (v == nullptr || v->is_null()) return nullptr;
  if (v->type() != type) {
    throw Error(ErrorCode::invalid_argument,
                std::string("http_embeddings: parameter '") + key + "' is " +
                    std::string(Value::type_name(v->type())) + ", not " + type_text);
  }
  return v;
}

std::int64_t int_param(const Value& params, const char* key, std::int64_t fallback, std::int64_t lo,
                       std::int64_t hi) {
  const Value* v = param(params, key, Value::Type::integer, "an integer");
  if (v == nullptr) return fallback;
  const std::int64_t x = v->as_int();
  if (x < lo || x > hi) {
    throw Error(ErrorCode::invalid_argument, std::string("http_embeddings: parameter '") + key +
                                                 "' is " + std::to_string(x) + ", not in " +
                                                 std::to_string(lo) + ".." + std::to_string(hi));
  }
  return x;
}

}  // namespace

ModelKind http_embeddings_model_kind() {
  ModelKind k;
  k.name = "http_embeddings";
  k.load = [](const Value& params, const std::string&) -> std::unique_ptr<ModelRuntime> {
    HttpEmbeddingOptions o;
    if (const Value* v = param(params, "url", Value::Type::string, "a string")) {
      o.url = v->as_string();
    }
    if (const Value* v = param(params, "model", Value::Type::string, "a string")) {
      o.model = v->as_string();
    }
    constexpr std::int64_t kIntMax = 2147483647;
    o.batch_size = static_cast<std::size_t>(
        int_param(params, "batch_size", static_cast<std::int64_t>(o.batch_size), 1, kIntMax));
    o.timeout_ms = static_cast<int>(int_param(params, "timeout_ms", o.timeout_ms, 1, kIntMax));
    o.max_retries = static_cast<int>(int_param(params, "max_retries", o.max_retries, 0, 1000));
    o.dim = static_cast<std::size_t>(int_param(params, "dim", 0, 0, kIntMax));
    // The key is never in the params: it comes from this process's configuration.
    return make_http_embeddings(o);
  };
  return k;
}

std::unique_ptr<ModelRuntime> make_http_embeddings(const HttpEmbeddingOptions& options) {
  return std::make_unique<HttpEmbeddings>(resolve(options));
}

}  // namespace sddb::detail
