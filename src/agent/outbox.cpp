#include "agent/outbox.h"

#include <cstdio>

#include "agent/agent_log.h"
#include "agent/durable_file.h"
#include "core/codec.h"
#include "core/sha256.h"

namespace printrelay::agent {
namespace {

Json entry_json(const OutboxEntry& e) {
  Json j = {{"seq", e.seq}};
  if (e.report) j["report"] = to_json(*e.report);
  if (e.event) {
    j["event"] = to_json(*e.event);
    j["job_id"] = e.event->job_id;
  }
  return j;
}

Result<OutboxEntry> parse_entry(const std::string& text) {
  auto j = parse_body(text);
  if (!j) return j.error();
  OutboxEntry e;
  e.seq = j->value("seq", std::uint64_t(0));
  if (e.seq == 0) return bad_input("outbox entry without seq");
  if (auto it = j->find("report"); it != j->end()) {
    auto r = parse_report(*it);
    if (!r) return r.error();
    e.report = *r;
  } else if (auto ev = j->find("event"); ev != j->end()) {
    auto parsed = parse_job_event(*ev, j->value("job_id", ""));
    if (!parsed) return parsed.error();
    if (parsed->job_id.empty()) return bad_input("outbox event without job_id");
    e.event = *parsed;
  } else {
    return bad_input("outbox entry is neither a report nor an event");
  }
  return e;
}

}  // namespace

bool is_alert(const Report& r) {
  return r.urgency == Urgency::kHigh || r.urgency == Urgency::kFatal;
}

Outbox::Outbox(std::filesystem::path state_dir)
    : state_dir_(std::move(state_dir)), dir_(state_dir_ / "outbox") {}

Result<std::unique_ptr<Outbox>> Outbox::open(const std::filesystem::path& state_dir) {
  std::unique_ptr<Outbox> box(new Outbox(state_dir));
  std::error_code ec;
  std::filesystem::create_directories(box->dir_, ec);
  if (ec) return unavailable("create " + box->dir_.string() + ": " + ec.message());
  for (const auto& f : std::filesystem::directory_iterator(box->dir_, ec)) {
    const auto& p = f.path();
    if (p.extension() == ".tmp") {
      // A write that never reached its rename: the caller was never told it was durable.
      std::filesystem::remove(p, ec);
      continue;
    }
    if (p.extension() != ".json") continue;
    auto text = read_file(p);
    auto entry = text ? parse_entry(*text) : Result<OutboxEntry>(text.error());
    if (!entry) {
      LogLine(LogLevel::kWarn) << "outbox: setting aside " << p << ": " << entry.error().message;
      std::filesystem::rename(p, std::filesystem::path(p) += ".bad", ec);
      continue;
    }
    box->next_seq_ = std::max(box->next_seq_, entry->seq + 1);
    box->entries_[entry->seq] = std::move(*entry);
  }
  if (ec) return unavailable("scan " + box->dir_.string() + ": " + ec.message());
  return box;
}

std::filesystem::path Outbox::entry_path(std::uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llu.json", static_cast<unsigned long long>(seq));
  return dir_ / name;
}

Result<std::uint64_t> Outbox::add_entry(OutboxEntry entry) {
  bool alert = entry.report && is_alert(*entry.report);
  std::uint64_t seq = 0;
  {
    // Holding the lock across the fsync keeps sequence order equal to durable order; adds are
    // rare enough (a burst of 200 is well under a second) that this costs nothing visible.
    std::lock_guard lock(mu_);
    seq = next_seq_++;
    entry.seq = seq;
    if (auto st = write_durably(entry_path(seq), entry_json(entry).dump()); !st) {
      return st.error();
    }
    entries_[seq] = std::move(entry);
  }
  std::function<void(bool)> fn;
  {
    std::lock_guard lock(mu_);
    fn = on_added_;
  }
  if (fn) fn(alert);
  return seq;
}

Result<std::uint64_t> Outbox::add_report(const Report& r) {
  OutboxEntry e;
  e.report = r;
  return add_entry(std::move(e));
}

Result<std::uint64_t> Outbox::add_event(const JobEvent& ev) {
  OutboxEntry e;
  e.event = ev;
  return add_entry(std::move(e));
}

OutboxBatch Outbox::next_batch(std::size_t max_reports) const {
  std::lock_guard lock(mu_);
  OutboxBatch b;
  for (const auto& [seq, e] : entries_) {
    if (b.reports.size() >= max_reports) break;
    if (e.report && is_alert(*e.report)) b.reports.push_back(e);
  }
  if (!b.reports.empty()) {
    b.alerts_only = true;
    return b;
  }
  for (const auto& [seq, e] : entries_) {
    if (e.event) {
      if (b.reports.empty()) b.event = e;
      break;
    }
    if (b.reports.size() >= max_reports) break;
    b.reports.push_back(e);
  }
  return b;
}

std::vector<std::optional<Report>> Outbox::confirm(const std::vector<Receipt>& receipts) {
  std::lock_guard lock(mu_);
  std::vector<std::optional<Report>> out(receipts.size());
  std::string lines;
  std::vector<std::uint64_t> confirmed;
  for (std::size_t i = 0; i < receipts.size(); ++i) {
    const Receipt& receipt = receipts[i];
    for (auto& [seq, e] : entries_) {
      if (!e.report || e.report->id != receipt.report_id) continue;
      if (sha256_hex(canonical_report(*e.report)) != receipt.sha256) break;
      if (!lines.empty()) lines += '\n';
      lines += Json{{"report_id", receipt.report_id},
                    {"reception_no", receipt.reception_no},
                    {"sha256", receipt.sha256},
                    {"duplicate", receipt.duplicate}}
                   .dump();
      out[i] = *e.report;
      confirmed.push_back(seq);
      break;
    }
  }
  if (confirmed.empty()) return out;
  // The log is written before the entries go, so that a crash in between leaves reports that are
  // resent (and answered as duplicates), never a confirmed report without its line.
  if (auto st = append_line(state_dir_ / "receipts.log", lines); !st) {
    LogLine(LogLevel::kError) << "outbox: " << st.error().message;
  }
  for (auto seq : confirmed) {
    // Not syncing the directory per unlink: an unlink lost in a crash only means a resend.
    if (auto st = remove_durably(entry_path(seq), false); !st) {
      LogLine(LogLevel::kWarn) << "outbox: " << st.error().message;
    }
    entries_.erase(seq);
  }
  return out;
}

void Outbox::remove(std::uint64_t seq) {
  std::lock_guard lock(mu_);
  if (entries_.erase(seq) == 0) return;
  if (auto st = remove_durably(entry_path(seq)); !st) {
    LogLine(LogLevel::kWarn) << "outbox: " << st.error().message;
  }
}

void Outbox::reject(std::uint64_t seq, const std::string& why) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(seq);
  if (it == entries_.end()) return;
  Json line = {{"entry", entry_json(it->second)}, {"why", why}};
  (void)append_line(state_dir_ / "rejected.log", line.dump());
  (void)remove_durably(entry_path(seq));
  entries_.erase(it);
}

std::size_t Outbox::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::size_t Outbox::event_count() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [seq, e] : entries_) n += e.event ? 1 : 0;
  return n;
}

void Outbox::set_on_added(std::function<void(bool)> fn) {
  std::lock_guard lock(mu_);
  on_added_ = std::move(fn);
}

}  // namespace printrelay::agent
