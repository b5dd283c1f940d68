// Human output of relayctl: aligned columns under a header row, times as "2026-11-23 09:15:00"
// (UTC), empty cells as "-".
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "core/model.h"

namespace printrelay::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header);
  // Cells beyond the header are dropped, missing cells shown as "-".
  void add_row(std::vector<std::string> cells);
  // Columns are separated by two spaces; the last column is not padded.
  void print(std::ostream& out) const;
  std::size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// A wire time (RFC 3339 string) as "2026-11-23 09:15:00"; null or empty as "-"; anything that
// does not parse is shown as given.
std::string display_time(const Json& value);
// Any JSON value as one table cell: strings as-is, null/empty as "-", others compact JSON.
std::string display(const Json& value);
// j[key] as a cell, "-" when absent.
std::string cell(const Json& j, const char* key);

}  // namespace printrelay::cli
