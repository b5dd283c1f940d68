#include "relay/dashboard_assets.h"

#include <fstream>
#include <sstream>

namespace printrelay {

namespace {

bool safe_name(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string content_type_of(const std::string& name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() &&
           name.compare(name.size() - ext.size(), ext.size(), ext) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".ico")) return "image/x-icon";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

}  // namespace

std::optional<DashboardFile> dashboard_file(const std::string& name,
                                            const std::filesystem::path& dir) {
  if (!safe_name(name)) return std::nullopt;
  if (!dir.empty()) {
    std::ifstream in(dir / name, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream body;
    body << in.rdbuf();
    return DashboardFile{body.str(), content_type_of(name)};
  }
  const auto& files = embedded_dashboard_files();
  auto it = files.find(name);
  if (it == files.end()) return std::nullopt;
  return DashboardFile{std::string(it->second), content_type_of(name)};
}

}  // namespace printrelay
