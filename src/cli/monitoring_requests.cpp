#include "cli/monitoring_requests.h"

#include <map>

#include "core/codec.h"
#include "core/json_text.h"
#include "core/service_tables.h"

namespace printrelay::cli {
namespace {

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// The columns a code table's CSV may have; the first two are required.
const std::vector<std::string>& csv_columns(const std::string& name) {
  static const std::vector<std::string> kErrorCodes = {"code", "text", "action", "urgency"};
  static const std::vector<std::string> kOrderCodes = {"code", "text"};
  return name == "error_codes" ? kErrorCodes : kOrderCodes;
}

// The problem with one entry as the relay would see it, named by `where` ("line 4"), or empty.
// The core parser names the entry "error_codes[0]": that name is replaced.
std::string entry_problem(const std::string& name, const Json& entry, const std::string& where) {
  const Json one = Json::array({entry});
  std::string message;
  if (name == "error_codes") {
    if (auto t = parse_error_content_table(one); !t) message = t.error().message;
  } else if (auto t = parse_order_content_table(one); !t) {
    message = t.error().message;
  }
  if (message.empty()) return {};
  const std::string prefix = name + "[0]";
  if (message.rfind(prefix, 0) == 0) return where + message.substr(prefix.size());
  return where + ": " + message;
}

void parse_code_table_csv(const std::string& name, std::string_view text, TableFile& out) {
  const auto& columns = csv_columns(name);
  std::string header_text;
  for (const auto& c : columns) header_text += (header_text.empty() ? "" : ",") + c;
  std::size_t pos = 0;
  int line = 0;
  auto header = csv_record(text, pos, line);
  if (!header) {
    out.problems.push_back("line 1: " + header.error().message);
    return;
  }
  std::vector<int> index(columns.size(), -1);
  for (std::size_t i = 0; i < header->size(); ++i) {
    const std::string column = trim((*header)[i]);
    bool known = false;
    for (std::size_t k = 0; k < columns.size(); ++k) {
      if (column != columns[k]) continue;
      known = true;
      if (index[k] != -1) out.problems.push_back("line 1: column '" + column + "' appears twice");
      index[k] = int(i);
    }
    if (!known) {
      out.problems.push_back("line 1: unknown column '" + column + "' (header: " + header_text +
                             ")");
    }
  }
  for (std::size_t k = 0; k < 2; ++k) {
    if (index[k] == -1) {
      out.problems.push_back("line 1: missing column '" + columns[k] + "' (header: " + header_text +
                             ")");
    }
  }
  if (!out.problems.empty()) return;

  Json entries = Json::array();
  std::map<std::string, int> first_line;  // by code
  while (pos < text.size()) {
    const int first = line + 1;
    auto fields = csv_record(text, pos, line);
    const std::string line_name = "line " + std::to_string(first);
    const std::string where = line_name + ": ";
    if (!fields) {
      out.problems.push_back(where + fields.error().message);
      continue;
    }
    if (fields->size() == 1 && trim((*fields)[0]).empty()) continue;  // blank line
    if (fields->size() != header->size()) {
      out.problems.push_back(where + "expected " + std::to_string(header->size()) +
                             " fields, found " + std::to_string(fields->size()));
      continue;
    }
    Json entry = Json::object();
    for (std::size_t k = 0; k < columns.size(); ++k) {
      if (index[k] == -1) continue;
      const std::string value = trim((*fields)[std::size_t(index[k])]);
      if (k < 2 || !value.empty()) entry[columns[k]] = value;  // optional columns may be empty
    }
    if (std::string problem = entry_problem(name, entry, line_name); !problem.empty()) {
      out.problems.push_back(std::move(problem));
      continue;
    }
    const std::string code = entry["code"];
    auto [it, fresh] = first_line.emplace(code, first);
    if (!fresh) {
      out.problems.push_back(where + "code " + code + " is listed twice (line " +
                             std::to_string(it->second) + ")");
      continue;
    }
    entries.push_back(std::move(entry));
  }
  if (entries.empty() && out.problems.empty()) out.problems.push_back("no rows after the header");
  out.body = std::move(entries);
}

// "[json.exception.parse_error.101] parse error at line 2, column 5: ..." without the prefix.
std::string json_problem(const std::exception& e) {
  std::string message = e.what();
  if (message.rfind("[json.exception.", 0) == 0) {
    if (auto end = message.find("] "); end != std::string::npos) message.erase(0, end + 2);
  }
  return "not valid JSON: " + message;
}

}  // namespace

bool is_code_table(std::string_view name) { return name == "error_codes" || name == "order_codes"; }

TableFile parse_table_file(const std::string& name, std::string_view text) {
  TableFile out;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // spreadsheet BOM
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    out.problems.push_back("the file is empty");
    return out;
  }
  const bool json = text[first] == '[' || text[first] == '{';
  if (!json && is_code_table(name)) {
    parse_code_table_csv(name, text, out);
    return out;
  }
  if (json_nesting_depth(text) > kMaxJsonDepth) {
    out.problems.push_back("the JSON nests deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels (no table does)");
    return out;
  }
  Json j;
  try {
    j = Json::parse(text);
  } catch (const std::exception& e) {
    out.problems.push_back(json_problem(e) +
                           (is_code_table(name) ? " (nor CSV: a CSV starts with its header)" : ""));
    return out;
  }
  // What `tables show NAME --json` printed: a table body never has these three keys together (the
  // parsers refuse unknown keys), so the answer is told apart from a body.
  if (j.is_object() && j.contains("name") && j.contains("revision") && j.contains("body")) {
    if (j["name"] != name) {
      out.problems.push_back("the file holds table " + text_field(j, "name", "?") + ", not " +
                             name);
      return out;
    }
    const Json& revision = j["revision"];
    if (!revision.is_number_integer() || revision.get<std::int64_t>() < 0) {
      out.problems.push_back("\"revision\" must be the table's revision as read");
      return out;
    }
    out.revision = revision.get<std::int64_t>();
    out.body = j["body"];
    return out;
  }
  out.body = std::move(j);
  return out;
}

ApiCall table_put_call(const std::string& name, const Json& body, std::int64_t revision) {
  return ApiCall{"PUT", "/v1/tables/" + url_encode(name),
                 Json{{"body", body}, {"revision", revision}}};
}

Result<ApiCall> notifications_call(const std::string& serial, std::optional<int> limit) {
  if (!serial.empty() && !is_valid_id(serial)) {
    return bad_input("--serial must be 1-64 characters of [A-Za-z0-9._:-]: '" + serial + "'");
  }
  if (limit && (*limit < 1 || *limit > 1000)) return bad_input("--limit must be 1-1000");
  return ApiCall{"GET",
                 with_query("/v1/notifications",
                            {{"serial", serial}, {"limit", limit ? std::to_string(*limit) : ""}}),
                 {}};
}

Result<ApiCall> device_monitoring_call(const std::string& serial) {
  if (!is_valid_id(serial)) {
    return bad_input("SERIAL must be 1-64 characters of [A-Za-z0-9._:-]: '" + serial + "'");
  }
  return ApiCall{"GET", "/v1/devices/" + url_encode(serial) + "/monitoring", {}};
}

}  // namespace printrelay::cli
