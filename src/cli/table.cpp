#include "cli/table.h"

#include "core/time.h"

namespace printrelay::cli {
namespace {

// One line per cell: newlines and tabs inside values would break the columns.
std::string flatten(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s.empty() ? "-" : s;
}

// Display width in code points, so UTF-8 place names still align.
std::size_t width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

}  // namespace

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(header_.size());
  for (auto& c : cells) c = flatten(std::move(c));
  rows_.push_back(std::move(cells));
}

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> widths(header_.size());
  for (std::size_t i = 0; i < header_.size(); ++i) widths[i] = width(header_[i]);
  for (const auto& r : rows_) {
    for (std::size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], width(r[i]));
  }
  auto print_row = [&](const std::vector<std::string>& r) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(widths[i] - width(r[i]) + 2, ' ');
    }
    out << line << '\n';
  };
  print_row(header_);
  for (const auto& r : rows_) print_row(r);
}

std::string display_time(const Json& value) {
  if (!value.is_string()) return value.is_null() ? "-" : display(value);
  const auto& s = value.get_ref<const std::string&>();
  if (s.empty()) return "-";
  auto t = parse_time(s);
  if (!t) return s;
  std::string wire = format_time(*t);  // 2026-11-23T09:15:00.000Z
  return wire.substr(0, 10) + " " + wire.substr(11, 8);
}

std::string display(const Json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    return s.empty() ? "-" : s;
  }
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return value.dump();
}

std::string cell(const Json& j, const char* key) {
  if (!j.is_object()) return "-";
  auto it = j.find(key);
  return it == j.end() ? "-" : display(*it);
}

}  // namespace printrelay::cli
