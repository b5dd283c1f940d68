// The service center's web dashboard (web/ at the top of the repository): compiled into relayd,
// or read from a folder while it is being worked on.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace printrelay {

// Every file of web/ by name, as it was when relayd was built (generated source).
const std::map<std::string, std::string_view>& embedded_dashboard_files();

struct DashboardFile {
  std::string body;
  std::string content_type;
};

// The dashboard file `name` ("index.html", "app.js"): from `dir` when it is not empty (edit and
// reload without a rebuild), otherwise the embedded copy. Nullopt for an unknown name or one that
// could step outside the folder (only [A-Za-z0-9._-], no leading dot).
std::optional<DashboardFile> dashboard_file(const std::string& name,
                                            const std::filesystem::path& dir);

}  // namespace printrelay
