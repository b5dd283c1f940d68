// The relay's route table: method, path pattern, the credential a route needs, its handler.
// A pattern is a path of literal segments and `{name}` segments, each of which matches one
// non-empty segment: "/v1/devices/{serial}/revoke". Routes are tried in the order they were
// added and the first whose method and pattern match wins, so a literal route added before a
// `{name}` route of the same shape takes precedence ("/v1/campaigns/plan" before
// "/v1/campaigns/{id}").
//
// Where a new route goes: its resource's add_*_routes() in the matching api_*.cpp file of
// RelayApi; the table knows nothing of HTTP beyond the method.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace printrelay {

// What a caller must present before a route's handler runs. RelayApi checks it (and answers
// 401/403/429 itself), so no handler starts on a credential it may not act for.
enum class Access {
  kPublic,      // no credential (health, the dashboard's files, enrolment, artifact downloads)
  kDevice,      // a device credential, within its request rate
  kChildRelay,  // a child relay's credential (role relay)
  kViewer,      // an admin credential of at least these roles (never a relay's)
  kOperator,
  kAdmin,
};

// The `{name}` segments of a matched path, in pattern order.
class RouteParams {
 public:
  RouteParams() = default;
  explicit RouteParams(std::vector<std::string> values) : values_(std::move(values)) {}
  const std::string& operator[](std::size_t i) const { return values_.at(i); }
  std::size_t size() const { return values_.size(); }

 private:
  std::vector<std::string> values_;
};

// The segments of a path pattern or request path: "/v1/jobs/{id}" -> {"v1", "jobs", "{id}"}.
// Empty segments (a doubled or trailing slash) are dropped, as the request path's are.
std::vector<std::string> path_segments(std::string_view path);

// True when `segments` (of a request path) match `pattern` (of a route), appending the values
// of its `{name}` segments to `params`.
bool match_pattern(const std::vector<std::string>& pattern,
                   const std::vector<std::string>& segments, std::vector<std::string>& params);

template <typename Handler>
class RouteTable {
 public:
  struct Route {
    boost::beast::http::verb method;
    std::string pattern;
    Access access;
    Handler handler;
    std::string name;                // in the metrics' route label: the pattern unless given
    std::vector<std::string> parts;  // path_segments(pattern)
  };
  struct Match {
    const Route* route = nullptr;  // nullptr: no route has this method and path
    RouteParams params;
  };

  void add(boost::beast::http::verb method, std::string pattern, Access access, Handler handler,
           std::string name = "") {
    auto parts = path_segments(pattern);
    if (name.empty()) name = pattern;
    routes_.push_back(Route{method, std::move(pattern), access, std::move(handler), std::move(name),
                            std::move(parts)});
  }

  Match find(boost::beast::http::verb method, const std::vector<std::string>& segments) const {
    std::vector<std::string> params;
    for (const auto& r : routes_) {
      if (r.method != method || r.parts.size() != segments.size()) continue;
      params.clear();
      if (match_pattern(r.parts, segments, params)) return Match{&r, RouteParams(params)};
    }
    return Match{};
  }

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace printrelay
