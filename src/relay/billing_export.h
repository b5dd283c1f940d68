// Billing exports (seed 002 bills by counted pages): GET /v1/billing. Reads the counters reports
// of a period (and each device's last one before it) from the Store, joins the registration table
// (model, customer, place) and computes each counter's usage with core/billing.h.
//
// Devices listed: every registered or enrolled device (or the one `serial=`), and any other
// device with counters reports in the period; `customer=` keeps the devices registered to that
// customer (exact match). A device without readings is listed once, flagged "no_readings".
// Thread-safe as far as the Store is: it only reads.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/billing.h"
#include "core/result.h"
#include "store/store.h"

namespace printrelay {

struct BillingQuery {
  BillingPeriod period;
  std::string serial;    // empty: all devices
  std::string customer;  // empty: all customers
  bool csv = false;      // format=csv
  BillingOptions options;
};

// From the query string: from, to (RFC 3339 UTC, required), serial, customer, format (json|csv).
Result<BillingQuery> parse_billing_query(const std::map<std::string, std::string>& query);

// The rows of the export, ordered by (serial, counter). Not found when `serial` names a device
// that is neither registered, enrolled nor has counters reports in the period.
Result<std::vector<BillingRow>> billing_export(Store& store, const BillingQuery& query);

// {"from", "to", "max_gap_s", "rows": [to_json(row)...]}.
Json billing_json(const BillingQuery& query, const std::vector<BillingRow>& rows);

// "billing-20261101T000000Z-20261201T000000Z.csv": the period in a file-name-safe form.
std::string billing_csv_filename(const BillingPeriod& period);

}  // namespace printrelay
