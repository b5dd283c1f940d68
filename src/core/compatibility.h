// Compatibility of a device's units and software, judged from its structure report or firmware
// summary against a table of rules per model (seed 003 claims 6-16): which versions of each unit
// are compatible, which one is recommended, which units are required together, and so which
// firmware to install.
//
// Pure: no I/O and no clock (times are passed in as TimeMs, UTC milliseconds); deterministic, so
// the relay, relayctl and the tests reach the same answer. Rule tables come from operators as JSON:
// their parsers refuse unknown keys and return a bad_input Error naming the field at fault (see
// json_fields.h); nothing here throws on bad input. Each parse_* has a to_json() that parse_* reads
// back to the same value.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/result.h"

namespace printrelay {

// A table of rules per model says which versions of each unit's software are compatible, which
// one is recommended, and which combinations of units are required together:
//
//   {"model": "MX-4070",
//    "units": {"main": {"compatible": ["1.0.3", ">=2.0.0 <3"], "recommended": "2.0.0"},
//              "controller": {"compatible": [">=2.1.0"], "recommended": "2.1.0",
//                             "vendors": ["0x1A2B"], "required": true}},
//    "requires": [{"if": {"main": ">=2.0.0"}, "then": {"controller": ">=2.1.0"}}],
//    "unknown_units": "ignore",
//    "auto_update": true,
//    "allow_downgrade": false}
//
// Version ranges: one or more clauses separated by spaces, all of which must hold; a clause is a
// version with an optional operator "=", ">=", ">", "<=", "<" (none means "="), or "*" for any
// version. ">=2.0.0 <3" is 2.0.0 up to but excluding 3. Versions compare with compare_versions()
// (firmware_job.h): by numeric dotted segments, so "2.0" equals "2.0.0" and "1.10" > "1.9". A
// version is 1..64 characters of [A-Za-z0-9._+-] without empty segments.
// A list of ranges ("compatible", or an array in "if"/"then") matches when any range matches.

inline constexpr std::size_t kMaxVersionLength = 64;
inline constexpr std::size_t kMaxCompatibilityModels = 1000;
inline constexpr std::size_t kMaxUnitsPerModel = 64;
inline constexpr std::size_t kMaxRangesPerList = 64;
inline constexpr std::size_t kMaxRequiresPerModel = 64;

struct VersionClause {
  enum class Op { kAny, kEq, kGe, kGt, kLe, kLt } op = Op::kAny;
  std::string version;  // empty for kAny
};

// All clauses must hold. Never empty once parsed ("*" is one kAny clause).
struct VersionRange {
  std::vector<VersionClause> clauses;
};

// Bad input naming the clause at fault for an empty text, an unknown operator or a bad version.
Result<VersionRange> parse_version_range(std::string_view text);
// Canonical text: clauses joined by one space, "=" left out (">=2.0.0 <3", "1.0.3", "*").
std::string to_text(const VersionRange& r);
// Whether `version` satisfies every clause. An empty version satisfies only "*".
bool satisfies(const VersionRange& r, std::string_view version);
// Whether `version` satisfies any of `ranges` (false for an empty list).
bool satisfies_any(const std::vector<VersionRange>& ranges, std::string_view version);

struct UnitRule {
  std::vector<VersionRange> compatible;  // empty: any version is compatible
  std::string recommended;               // empty: none; otherwise one of `compatible`
  std::vector<std::string> vendors;      // empty: any vendor id; compared exactly. A unit
                                         // that reports no vendor id is not judged on it.
  bool required = false;                 // the model does not work without this unit
};

// "if every condition holds, every consequence must hold". A condition on a unit that is not
// fitted (or reports no version) does not hold; a consequence on such a unit is not met.
struct UnitRequirement {
  std::map<std::string, std::vector<VersionRange>> if_units;    // 1..kMaxUnitsPerModel
  std::map<std::string, std::vector<VersionRange>> then_units;  // 1..kMaxUnitsPerModel
};

struct CompatibilityRules {
  std::string model;
  std::map<std::string, UnitRule> units;      // by unit id ("main", "controller", "adf", ...)
  std::vector<UnitRequirement> requirements;  // "requires" in JSON
  // A fitted unit the rules do not name: ignored (default), or incompatible (this model takes only
  // the units listed; seed 003 claim 6, compatibility between the device and its units).
  bool unknown_units_incompatible = false;
  bool auto_update = false;      // seed 003 claims 12 and 16: download the right version at once
  bool allow_downgrade = false;  // see StructureVerdict::updates
};

// Rules by model.
using CompatibilityTable = std::map<std::string, CompatibilityRules>;

// One model's object as above. "model" and "units" are required, the rest optional (defaults
// above); unknown keys refused. A recommended version must be one of its unit's compatible
// versions, and the recommended versions of all units together must meet "requires" (the table
// must be able to fix what it finds).
Result<CompatibilityRules> parse_compatibility_rules(const Json& j);
Json to_json(const CompatibilityRules& r);
// An array of model objects (at most kMaxCompatibilityModels, each model once) or one object.
Result<CompatibilityTable> parse_compatibility_table(const Json& j);
Json to_json(const CompatibilityTable& t);  // an array, by model

// A unit as the device reports it in its "structure" report ({"model", "units": [{"id", "name",
// "serial", "software_version", "vendor_id"}]}), or as read from a firmware summary
// ({"main": "1.0.3", ...}: Device::firmware, a boot report's "firmware").
struct DeviceUnit {
  std::string id;
  std::string version;  // empty: the unit reported no software version
  std::string serial;
  std::string vendor_id;
};

// Reads either form: an object with a "units" array is a structure body, any other object is a
// firmware summary of unit -> version strings. Bad input for a unit without an id, a unit listed
// twice, a version that is not a string, or anything that is not an object. `model` is set from a
// structure body's "model" (empty otherwise).
struct DeviceStructure {
  std::string model;
  std::vector<DeviceUnit> units;  // in the order reported
};
Result<DeviceStructure> parse_device_structure(const Json& structure_or_firmware);

enum class Compatibility {
  kCompatible,    // every unit and requirement holds (findings may still recommend updates)
  kIncompatible,  // at least one finding is incompatible
  kNoRules,       // the table has no rules for the model: nothing was judged
};
const char* to_string(Compatibility c);  // "compatible", "incompatible", "no_rules"

enum class UnitFindingKind {
  kVersionIncompatible,  // the unit's version is not in its compatible list
  kVersionUnknown,       // the rules list versions for the unit but it reported none
  kVendorNotAllowed,     // the unit's vendor id is not in the rule's vendors
  kMissingUnit,          // a required unit is not fitted
  kUnknownUnit,          // a fitted unit the rules do not name, with unknown_units "incompatible"
  kRequirementNotMet,    // a "requires" consequence fails
  kNotRecommended,       // compatible, but not the recommended version (not incompatible)
};
// "version_incompatible", "version_unknown", "vendor_not_allowed", "missing_unit", "unknown_unit",
// "requirement_not_met", "not_recommended".
const char* to_string(UnitFindingKind k);

struct UnitFinding {
  std::string unit;
  std::string found_version;  // empty when not fitted or not reported
  UnitFindingKind kind = UnitFindingKind::kVersionIncompatible;
  bool incompatible = true;
  std::string why;          // "main 1.0.2 is not compatible with MX-4070 (compatible: 1.0.3, ...)"
  std::string recommended;  // the unit's recommended version, empty when the rules have none
};

struct StructureVerdict {
  std::string model;
  Compatibility verdict = Compatibility::kNoRules;
  std::vector<UnitFinding> findings;  // by unit id, then in kind order
  // The firmware to install, unit -> recommended version: every fitted unit whose version differs
  // from its recommended one, except that a compatible unit newer than recommended is only
  // downgraded when the rules allow_downgrade (an incompatible one always is: that is the fix).
  std::map<std::string, std::string> updates;
  // The rules ask for an automatic firmware job (auto_update) and `updates` is not empty. When
  // false and `updates` is not empty, the service center notifies instead (seed 003 claim 13).
  bool auto_update = false;
  std::string summary;  // one line for the dashboard and notifications
};

// Judges a device of `model` from its structure report body or firmware summary (see
// parse_device_structure()). Bad input when the body is malformed or names another model.
// `table` must be as parse_compatibility_table() returns it.
Result<StructureVerdict> judge_structure(const CompatibilityTable& table, const std::string& model,
                                         const Json& structure_or_firmware);
// The same on already parsed units and one model's rules.
StructureVerdict judge_units(const CompatibilityRules& rules, const std::vector<DeviceUnit>& units);
// {"model", "verdict", "findings": [{"unit", "found_version", "kind", "incompatible", "why",
//  "recommended"}], "updates": {unit: version}, "auto_update", "summary"}.
Json to_json(const StructureVerdict& v);

}  // namespace printrelay
