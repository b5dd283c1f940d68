// How relayctl's monitoring commands become admin API calls: the service center's tables
// (GET/PUT /v1/tables/{name}), the notification record (GET /v1/notifications) and a device's
// monitoring page (GET /v1/devices/{serial}/monitoring). Pure like requests.h: the command reads
// the files, these functions only turn text into what is sent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/requests.h"
#include "core/model.h"
#include "core/result.h"

namespace printrelay::cli {

// error_codes and order_codes: code tables, which `tables put` also takes as CSV and `tables
// show` prints as a table.
bool is_code_table(std::string_view name);

// What `tables put NAME FILE` sends, read from the file's text:
// - JSON: the table's body (core/service_tables.h, core/monitoring_rules.h), or what `tables show
//   NAME --json` printed ({"name", "revision", "body", ...}): then its body, and the revision it
//   was read at, so that a change made meanwhile by someone else is refused (409) rather than
//   overwritten;
// - for a code table, CSV with a header row (RFC 4180 quoting, a spreadsheet's BOM tolerated):
//   error_codes `code,text[,action,urgency]`, order_codes `code,text`, columns in any order.
//   Every row is checked as the relay checks a table entry, so a bad row is named by its line;
//   blank lines are skipped.
// When `problems` is not empty ("line N: ..." for CSV, a parse error for JSON), nothing should be
// sent. The relay still judges a JSON body: it names the entry at fault.
struct TableFile {
  Json body;
  std::optional<std::int64_t> revision;  // from a `tables show --json` answer
  std::vector<std::string> problems;
};
TableFile parse_table_file(const std::string& name, std::string_view text);

// PUT /v1/tables/{name} {"body", "revision"}.
ApiCall table_put_call(const std::string& name, const Json& body, std::int64_t revision);

// GET /v1/notifications, newest first, optionally for one device and at most `limit` (1-1000).
// Bad input for a malformed serial or a limit out of range.
Result<ApiCall> notifications_call(const std::string& serial, std::optional<int> limit);

// GET /v1/devices/{serial}/monitoring. Bad input for a malformed serial.
Result<ApiCall> device_monitoring_call(const std::string& serial);

}  // namespace printrelay::cli
