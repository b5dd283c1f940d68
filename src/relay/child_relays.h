// The parent's side of the relay-sync API (seed 001 claims 23-34): a child relay sends what its
// devices left with it (enrolments, reports, job events, in the order it accepted them) and is
// answered with the jobs for the devices it serves, the end of jobs it holds, and the directory
// (registrations and device credentials) so that any relay of the tree can take a device over.
//
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"
#include "relay/relay.h"

namespace printrelay {

inline constexpr std::size_t kMaxSyncItems = 500;
inline constexpr std::size_t kMaxSyncSerials = 100000;
inline constexpr int kMaxSyncWaitS = 60;

// One sync request, validated.
struct SyncRequest {
  std::string version;  // the child's relayd version
  int wait_s = 0;
  std::vector<std::string> serials;  // devices the child serves now
  std::set<std::string> held_jobs;   // open jobs the child holds
  std::string directory_version;
  std::string catalog_version;  // of the firmware catalog the child holds
  // Relays that sync with the child (its own children): their jobs (relay-update) go through
  // it, and it forwards their job events. Taken only for relays registered here whose customers
  // the child serves as well.
  std::vector<std::string> relays;
  // Measured transfer rates (TransferRates::to_json); null when the child sent none.
  Json rates;
  Json sightings = Json::array();
  Json items = Json::array();  // [{seq, kind, serial, body}]
};
Result<SyncRequest> parse_sync_request(const Json& body);
Result<Json> parse_sync_rates(const Json& rates);

// What goes down. `has_news` is false when the answer carries nothing: the caller may hold the
// request (long-poll) and ask again.
struct SyncAnswer {
  Json body;
  bool has_news = false;
};

// The parent trusts a child relay only for the devices it serves: those registered for one of the
// customers on the child's credential (AdminCredential::customers; "*" for all). It sends a child
// only their directory entries and jobs, and takes from it only their enrolments (each with the
// enrollment code the device presented), reports, job events and sightings; the rest is refused
// with a reason in `rejected`. Times come from the parent's clock (docs/security.md).
class ChildRelays {
 public:
  explicit ChildRelays(Relay& relay) : relay_(relay) {}
  // The firmware images this relay offers (signed manifests), sent down whole when a child's
  // catalog_version differs, so that a device behind any relay of the tree gets the same offers
  // from its update check as at the root. Unset: no catalog goes down.
  void set_catalog(std::function<std::vector<Json>()> images) { catalog_ = std::move(images); }

  // Stores the items in order (stopping at the first the store cannot take: the child sends
  // the rest again), then answers downward.
  // Unavailable when the fleet or the jobs cannot be read.
  Result<SyncAnswer> sync(const std::string& child_id, const SyncRequest& req, TimeMs now);
  // The downward part alone (after a long-poll wait).
  Result<SyncAnswer> downward(const std::string& child_id, const SyncRequest& req, TimeMs now);
  // The child relays that synced with this node at or after `since`, by id: a child tells its
  // parent which relays are below it (SyncRequest::relays).
  std::vector<std::string> synced_since(TimeMs since);
  // The rates child `child_id` reported last: {"relay", "reported_at", "wan", "devices"}; not
  // found when it reported none since this node started.
  Result<Json> rates(const std::string& child_id);
  // Children known to this node: credentials, and for those that synced since it started, the
  // time, version, devices served and items received.
  Result<Json> list(TimeMs now);

 private:
  struct Seen {
    TimeMs last_sync = 0;
    std::string version;
    std::size_t devices = 0;
    std::int64_t items = 0;
    Json rates;  // the last reported, with "reported_at"
  };
  // The fleet as the directories are made from it: read once per change through this node (and
  // at least every few seconds, for changes made through other nodes sharing the store).
  struct Fleet {
    std::map<std::string, Registration> registrations;  // by serial
    std::vector<Device> devices;
    std::map<std::string, std::vector<std::string>> scopes;  // relay id -> customers
    std::uint64_t epoch = 0;
    TimeMs at = 0;
    std::string version;
  };
  // One child's share of the fleet: what it may act for, and its directory.
  struct ChildView {
    std::string fleet_version;
    std::set<std::string> served;  // serials
    // Other relays whose customers this child serves too: it may carry their jobs and events.
    std::set<std::string> relays;
    std::string directory_version;
    Json directory;
    bool serves(const std::string& serial) const { return served.count(serial) > 0; }
  };
  Result<std::shared_ptr<const Fleet>> fleet(TimeMs now);
  Result<std::shared_ptr<const ChildView>> view(const std::string& child_id, TimeMs now);

  Relay& relay_;
  std::function<std::vector<Json>()> catalog_;
  std::mutex mu_;
  std::map<std::string, Seen> seen_;
  std::shared_ptr<const Fleet> fleet_;
  std::map<std::string, std::shared_ptr<const ChildView>> views_;
};

}  // namespace printrelay
