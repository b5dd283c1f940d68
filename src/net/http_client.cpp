#include "net/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

namespace printrelay {
namespace {

std::once_flag g_curl_init;

size_t collect_body(char* ptr, size_t size, size_t nmemb, void* userdata) {
  static_cast<std::string*>(userdata)->append(ptr, size * nmemb);
  return size * nmemb;
}

size_t collect_header(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(userdata);
  std::string line(ptr, size * nmemb);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = line.substr(colon + 1);
    auto b = value.find_first_not_of(" \t");
    auto e = value.find_last_not_of(" \t\r\n");
    (*headers)[name] = b == std::string::npos ? "" : value.substr(b, e - b + 1);
  } else if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();  // a new response (after a proxy CONNECT or a 100-continue)
  }
  return size * nmemb;
}

struct StreamSink {
  const std::function<bool(std::string_view)>* fn;
  bool stopped = false;
  CURL* curl = nullptr;  // set: pass only a 2xx body to fn, keep any other in error_body
  std::string error_body;
};

size_t stream_body(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* sink = static_cast<StreamSink*>(userdata);
  if (sink->curl) {
    long status = 0;
    curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
      if (sink->error_body.size() < 4096) sink->error_body.append(ptr, size * nmemb);
      return size * nmemb;
    }
  }
  if (!(*sink->fn)(std::string_view(ptr, size * nmemb))) {
    sink->stopped = true;
    return 0;
  }
  return size * nmemb;
}

int check_abort(void* clientp, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* abort = static_cast<const std::atomic<bool>*>(clientp);
  return abort->load() ? 1 : 0;
}

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpClient::Impl {
  ClientOptions options;
  CURL* curl = nullptr;

  void prepare(const HttpRequest& req, curl_slist** list) {
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options.connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, req.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_PROXY, options.proxy.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
    if (!options.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
    if (options.insecure) {
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (req.method == "GET") {
      curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(req.body.size()));
    }
    if (options.abort) {
      curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, check_abort);
      curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(options.abort));
    }
    *list = curl_slist_append(*list, "Expect:");
    for (const auto& [k, v] : req.headers) {
      *list = curl_slist_append(*list, (k + ": " + v).c_str());
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *list);
  }
};

HttpClient::HttpClient(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->options = std::move(options);
  impl_->curl = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (impl_->curl) curl_easy_cleanup(impl_->curl);
}

Result<HttpResponse> HttpClient::send(const HttpRequest& req) {
  if (!impl_->curl) return unavailable("curl_easy_init failed");
  if (impl_->options.abort && impl_->options.abort->load()) return unavailable("client stopping");
  curl_slist* list = nullptr;
  impl_->prepare(req, &list);
  HttpResponse resp;
  curl_easy_setopt(impl_->curl, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(impl_->curl, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(impl_->curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(impl_->curl, CURLOPT_HEADERDATA, &resp.headers);
  CURLcode rc = curl_easy_perform(impl_->curl);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    return unavailable(req.method + " " + req.url + ": " + curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(impl_->curl, CURLINFO_RESPONSE_CODE, &status);
  resp.status = int(status);
  return resp;
}

Result<int> HttpClient::stream(const HttpRequest& req,
                               const std::function<bool(std::string_view)>& on_data) {
  curl_slist* list = nullptr;
  impl_->prepare(req, &list);
  StreamSink sink{&on_data};
  std::map<std::string, std::string> headers;
  curl_easy_setopt(impl_->curl, CURLOPT_WRITEFUNCTION, stream_body);
  curl_easy_setopt(impl_->curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(impl_->curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(impl_->curl, CURLOPT_HEADERDATA, &headers);
  CURLcode rc = curl_easy_perform(impl_->curl);
  curl_slist_free_all(list);
  long status = 0;
  curl_easy_getinfo(impl_->curl, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK && !sink.stopped) {
    return unavailable(req.method + " " + req.url + ": " + curl_easy_strerror(rc));
  }
  return int(status);
}

}  // namespace printrelay

namespace printrelay {

Result<HttpResponse> HttpClient::download(const HttpRequest& req,
                                          const std::function<bool(std::string_view)>& on_data) {
  curl_slist* list = nullptr;
  impl_->prepare(req, &list);
  StreamSink sink{&on_data};
  sink.curl = impl_->curl;
  HttpResponse resp;
  curl_easy_setopt(impl_->curl, CURLOPT_WRITEFUNCTION, stream_body);
  curl_easy_setopt(impl_->curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(impl_->curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(impl_->curl, CURLOPT_HEADERDATA, &resp.headers);
  CURLcode rc = curl_easy_perform(impl_->curl);
  curl_slist_free_all(list);
  long status = 0;
  curl_easy_getinfo(impl_->curl, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK && !sink.stopped) {
    return unavailable(req.method + " " + req.url + ": " + curl_easy_strerror(rc));
  }
  resp.status = int(status);
  resp.body = std::move(sink.error_body);
  return resp;
}

}  // namespace printrelay
