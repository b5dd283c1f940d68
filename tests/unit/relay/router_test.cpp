#include "relay/router.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "relay/api.h"
#include "store/sqlite/sqlite_store.h"

namespace printrelay {
namespace {

using boost::beast::http::verb;

// A route table whose handlers are the names of the routes they stand for.
RouteTable<std::string> table() {
  RouteTable<std::string> t;
  t.add(verb::get, "/v1/campaigns", Access::kViewer, "list");
  t.add(verb::post, "/v1/campaigns/plan", Access::kOperator, "plan");
  t.add(verb::get, "/v1/campaigns/{id}", Access::kViewer, "one");
  t.add(verb::post, "/v1/campaigns/{id}", Access::kOperator, "change");
  t.add(verb::post, "/v1/campaigns/{id}/devices/{serial}/retry", Access::kOperator, "retry");
  return t;
}

std::string found(const RouteTable<std::string>& t, verb method, std::string_view path) {
  auto m = t.find(method, path_segments(path));
  return m.route ? m.route->handler : "";
}

TEST(RouteTable, APathMatchesTheRouteOfItsMethodAndShape) {
  auto t = table();
  EXPECT_EQ(found(t, verb::get, "/v1/campaigns"), "list");
  EXPECT_EQ(found(t, verb::get, "/v1/campaigns/c-1"), "one");
  EXPECT_EQ(found(t, verb::post, "/v1/campaigns/c-1"), "change");
}

TEST(RouteTable, AnotherMethodOrShapeMatchesNothing) {
  auto t = table();
  EXPECT_EQ(found(t, verb::delete_, "/v1/campaigns/c-1"), "");
  EXPECT_EQ(found(t, verb::get, "/v1/campaigns/c-1/devices"), "");
  EXPECT_EQ(found(t, verb::get, "/v1"), "");
  EXPECT_EQ(found(t, verb::get, "/v2/campaigns"), "");
}

TEST(RouteTable, ALiteralRouteAddedFirstWinsOverAParameter) {
  auto t = table();
  EXPECT_EQ(found(t, verb::post, "/v1/campaigns/plan"), "plan");
  // The same shape with another method falls through to the parameter route.
  EXPECT_EQ(found(t, verb::get, "/v1/campaigns/plan"), "one");
}

TEST(RouteTable, ParametersComeInPatternOrder) {
  auto t = table();
  auto m = t.find(verb::post, path_segments("/v1/campaigns/c-9/devices/SIM-0001/retry"));
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->handler, "retry");
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0], "c-9");
  EXPECT_EQ(m.params[1], "SIM-0001");
}

TEST(RouteTable, DoubledAndTrailingSlashesAreIgnored) {
  EXPECT_EQ(path_segments("//v1//jobs/"), (std::vector<std::string>{"v1", "jobs"}));
  EXPECT_EQ(path_segments("/"), std::vector<std::string>{});
  auto t = table();
  EXPECT_EQ(found(t, verb::get, "/v1/campaigns/c-1/"), "one");
}

TEST(RouteTable, ARouteIsNamedByItsPatternUnlessGivenAName) {
  RouteTable<int> t;
  t.add(verb::get, "/v1/jobs/{id}", Access::kViewer, 1);
  t.add(verb::get, "/ui/{file}", Access::kPublic, 2, "/ui");
  EXPECT_EQ(t.routes()[0].name, "/v1/jobs/{id}");
  EXPECT_EQ(t.routes()[1].name, "/ui");
}

// docs/protocol.md names every route of the relay, with the role an admin route needs: a route
// added without its line there, or a role changed on one side only, fails here.
std::string normalized(std::string text) {
  static const std::regex param(R"(\{[^}/ ]*\})");
  return std::regex_replace(text, param, "{}");
}

std::string role_word(Access a) {
  switch (a) {
    case Access::kViewer:
      return "viewer";
    case Access::kOperator:
      return "operator";
    case Access::kAdmin:
      return "admin";
    default:
      return "";
  }
}

TEST(RelayRoutes, EveryRouteIsInTheProtocolDocumentWithItsRole) {
  std::ifstream in(std::filesystem::path(PRINTRELAY_SOURCE_DIR) / "docs" / "protocol.md");
  ASSERT_TRUE(in) << "docs/protocol.md";
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(normalized(line));

  auto path = std::filesystem::temp_directory_path() /
              ("router_test_" + std::to_string(::getpid()) + ".db");
  {
    auto store = open_sqlite_store(path.string());
    LiveFeed feed;
    Relay relay(*store, RelayOptions{}, feed);
    Metrics metrics;
    RelayApi api(relay, feed, metrics, ApiOptions{});
    const auto routes = api.route_list();
    ASSERT_GT(routes.size(), 40u);
    for (const auto& r : routes) {
      const std::string key =
          "`" + std::string(boost::beast::http::to_string(r.method)) + " " + normalized(r.pattern);
      const std::string* where = nullptr;
      for (const auto& line : lines) {
        auto at = line.find(key);
        if (at == std::string::npos) continue;
        const char next = at + key.size() < line.size() ? line[at + key.size()] : '\0';
        if (next == '`' || next == '[' || next == '?') {
          where = &line;
          break;
        }
      }
      if (!where) {
        ADD_FAILURE() << key << "` is served but not in docs/protocol.md";
        continue;
      }
      const std::string role = role_word(r.access);
      if (role.empty() || !where->starts_with("|")) continue;
      // | `GET /v1/jobs` | viewer | ...: the second cell names the role.
      std::stringstream cells(*where);
      std::string first, cell;
      std::getline(cells, first, '|');
      std::getline(cells, first, '|');
      std::getline(cells, cell, '|');
      EXPECT_NE(cell.find(role), std::string::npos)
          << key << "` needs " << role << "; docs/protocol.md says:" << cell;
    }
  }
  for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}

}  // namespace
}  // namespace printrelay
