// The service center's code tables (seed 002): the error-content table that turns a device's
// error code into what it means and what to do, and the order-content table that turns an order
// code typed on a device's panel into the part ordered. Also the standing auto-update
// authorisations the compatibility rules may attach to automatic firmware jobs (decision 0011).
//
// Pure: operators send these as JSON; the parsers refuse unknown keys and name the entry at fault
// (bad_input), and to_json() gives back what the parser reads to the same value.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/codec.h"
#include "core/firmware_job.h"
#include "core/model.h"
#include "core/result.h"

namespace printrelay {

inline constexpr std::size_t kMaxCodeTableEntries = 10000;
inline constexpr std::size_t kMaxCodeLength = 32;
inline constexpr std::size_t kMaxCodeTextLength = 200;
inline constexpr std::size_t kMaxCodeActionLength = 500;

// [{"code": "SC542", "text": "Fuser temperature abnormal", "action": "Replace the thermistor",
//   "urgency": "high"}]: code 1..32 printable ASCII without spaces, unique; text 1..200 and action
// 0..500 characters of UTF-8 without control characters; urgency optional.
struct ErrorContent {
  std::string code;
  std::string text;
  std::string action;
  std::optional<Urgency> urgency;
};
using ErrorContentTable = std::map<std::string, ErrorContent>;
Result<ErrorContentTable> parse_error_content_table(const Json& j);
Json to_json(const ErrorContentTable& t);  // an array, by code

// [{"code": "TYPE2-K", "text": "Toner cartridge Type 2, black"}], the same limits.
struct OrderContent {
  std::string code;
  std::string text;
};
using OrderContentTable = std::map<std::string, OrderContent>;
Result<OrderContentTable> parse_order_content_table(const Json& j);
Json to_json(const OrderContentTable& t);

// What a device's panel shows for an order (seed 002 Fig. 14): the part's name from the table,
// or the code itself when the table does not know it.
std::string order_reply_text(const OrderContentTable& t, const std::string& item,
                             std::int64_t quantity);

// [{"model": "MX-4070", "envelope": {"text", "signature"}}]: each envelope a standing firmware
// authorisation (serial kAnyDevice, with an expiry); at most one per model and set of component
// versions. The relay cannot check the signature (it holds no service-center key), the devices do.
struct AutoUpdateAuthorisation {
  std::string model;
  SignedEnvelope envelope;
  JobEnvelope parsed;
  std::map<std::string, std::string> versions;  // component -> version, from the params
};
Result<std::vector<AutoUpdateAuthorisation>> parse_auto_update_authorisations(const Json& j);
Json to_json(const std::vector<AutoUpdateAuthorisation>& list);

// The authorisation for `model` whose components and versions are exactly `updates`, or failing
// that the one with the fewest components that includes them all; not expired at `now`.
const AutoUpdateAuthorisation* find_authorisation(const std::vector<AutoUpdateAuthorisation>& list,
                                                  const std::string& model,
                                                  const std::map<std::string, std::string>& updates,
                                                  TimeMs now);

}  // namespace printrelay
