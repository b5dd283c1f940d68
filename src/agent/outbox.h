// The agent's persistent outbox: every report and job event the device produces, kept on disk
// until the relay has confirmed it (seed 001 claims 19-20: confirm reception, else retransmit).
//
// Layout: <state>/outbox/<seq, 16 digits>.json, one entry per file, written durably before
// add_* returns. Confirmed receipts are appended to <state>/receipts.log as one JSON line each:
// {"report_id", "reception_no", "sha256", "duplicate"}.
//
// Sending order (next_batch): alerts (urgency high or fatal) first, then everything else in the
// order it was added; a job event is sent only once every report added before it is confirmed
// (a collect job's reports arrive before its "succeeded" event). Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/model.h"
#include "core/result.h"

namespace printrelay::agent {

struct OutboxEntry {
  std::uint64_t seq = 0;
  std::optional<Report> report;  // exactly one of report / event
  std::optional<JobEvent> event;
};

// What the sender should deliver next: a batch of reports, or one event, or nothing.
struct OutboxBatch {
  std::vector<OutboxEntry> reports;
  std::optional<OutboxEntry> event;
  bool alerts_only = false;  // every report in the batch is high/fatal
  bool empty() const { return reports.empty() && !event; }
};

bool is_alert(const Report& r);

class Outbox {
 public:
  // Opens (creating if needed) <state_dir>/outbox and reloads what a previous run left.
  // Unreadable entries are moved aside to <name>.bad so they never block the queue.
  static Result<std::unique_ptr<Outbox>> open(const std::filesystem::path& state_dir);

  // Durable before return. Returns the entry's sequence number.
  Result<std::uint64_t> add_report(const Report& r);
  Result<std::uint64_t> add_event(const JobEvent& e);

  OutboxBatch next_batch(std::size_t max_reports) const;

  // For each receipt: removes the report when `receipt.sha256` equals
  // sha256_hex(canonical_report(report)) and logs the receipt. Returns, per receipt, the report
  // that was confirmed, or nothing (unknown id or a hash mismatch: the report stays and is sent
  // again). One fsync of receipts.log for the whole batch.
  std::vector<std::optional<Report>> confirm(const std::vector<Receipt>& receipts);

  // Removes an entry for good (an event delivered, or rejected by the relay as final).
  void remove(std::uint64_t seq);

  // Moves an entry the relay refuses for good (400/413) to <state>/rejected.log and removes it.
  void reject(std::uint64_t seq, const std::string& why);

  std::size_t size() const;
  std::size_t event_count() const;

  // Called after every add, outside the lock, with whether the entry is an alert.
  void set_on_added(std::function<void(bool alert)> fn);

 private:
  explicit Outbox(std::filesystem::path state_dir);
  Result<std::uint64_t> add_entry(OutboxEntry entry);
  std::filesystem::path entry_path(std::uint64_t seq) const;

  std::filesystem::path state_dir_;
  std::filesystem::path dir_;
  mutable std::mutex mu_;
  std::map<std::uint64_t, OutboxEntry> entries_;
  std::uint64_t next_seq_ = 1;
  std::function<void(bool)> on_added_;
};

}  // namespace printrelay::agent
