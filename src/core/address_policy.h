// Which addresses the relay may connect to when it sends a notification (security issue 11).
// Webhook URLs and the mail server are typed by operators and service-center users; without a
// policy a notification rule could make the relay POST to its own loopback, the LAN behind it, or
// a cloud metadata service. Pure; never throws.
//
// judge_target decides, for one address, in this order:
// 1. An IPv4-mapped address (::ffff:a.b.c.d) or a NAT64 one (64:ff9b::/96, RFC 6052) is also the
//    IPv4 address it carries: a range "contains" it when it contains either form, so
//    ::ffff:127.0.0.1 is loopback and --notify-allow 127.0.0.1 allows it too.
// 2. A deny range that contains the address refuses it, whatever the allow list says.
// 3. An allow range that contains it allows it.
// 4. A built-in internal range (internal_ranges()) refuses it.
// 5. Anything else is allowed.
// Within a list, the first range (in list order) that contains the address is the one named.
//
// Text accepted:
// - an IPv4 address is four decimal numbers 0-255 without leading zeros ("010" could be read as
//   octal); an IPv6 address is RFC 4291 text: 1-4 hex digits per group, at most one "::", an
//   optional dotted IPv4 address at the end; no zone ("%eth0"), no brackets;
// - a range is ADDRESS/BITS (CIDR: "10.0.0.0/8", "2001:db8::/32") or a bare address (one host:
//   /32, /128). Its host bits must be zero: "10.1.0.0/8" is refused as a likely typo, naming
//   10.0.0.0/8. Spaces around it are ignored.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace printrelay {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // network order; an IPv4 address uses the first 4
  bool operator==(const IpAddress&) const = default;
};

// From text (above); bad input naming the text otherwise.
Result<IpAddress> parse_ip_address(std::string_view text);
// From the bytes of a socket address in network order: 4 (IPv4) or 16 (IPv6).
Result<IpAddress> ip_address_from_bytes(std::span<const std::uint8_t> bytes);
// "192.0.2.1"; "2001:db8::1" (RFC 5952: lower case, the first longest run of two or more zero
// groups written "::"); "::ffff:192.0.2.1" for a mapped address.
std::string to_string(const IpAddress& address);
// The IPv4 address a mapped or NAT64 address carries; nothing for any other address.
std::optional<IpAddress> carried_ipv4(const IpAddress& address);

struct AddressRange {
  IpAddress base;       // its host bits are zero
  int prefix_bits = 0;  // 0-32 (IPv4) or 0-128 (IPv6)
  // Same family and the same first prefix_bits bits. Only the address itself: the IPv4 address a
  // mapped one carries is judge_target's concern.
  bool contains(const IpAddress& address) const;
  bool operator==(const AddressRange&) const = default;
};

// One range (above); bad input naming the text and what is wrong.
Result<AddressRange> parse_address_range(std::string_view text);
// Every range of every item, in order; an item may hold several, separated by commas
// ("10.0.0.0/8,192.168.0.0/16"). An empty range (an empty item, ",,") is bad input, as is any
// bad range: the error names the first.
Result<std::vector<AddressRange>> parse_address_ranges(const std::vector<std::string>& items);
// "10.0.0.0/8", "2001:db8::/32" (always with the prefix length).
std::string to_string(const AddressRange& range);

struct InternalRange {
  AddressRange range;
  std::string name;  // "loopback", "private", "link-local, cloud metadata", ...
};

// What no notification may reach unless allowed: 0.0.0.0/8, 127.0.0.0/8, 10.0.0.0/8,
// 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16 (169.254.169.254 is the cloud metadata
// service), 100.64.0.0/10, 192.0.0.0/24, 198.18.0.0/15, 224.0.0.0/4, 255.255.255.255/32,
// 240.0.0.0/4, ::/128, ::1/128, fe80::/10, fc00::/7, ff00::/8.
const std::vector<InternalRange>& internal_ranges();

// The relay's policy for notification targets (relayd run --notify-allow / --notify-deny). The
// default (both lists empty) refuses the internal ranges and allows everything else.
struct NotifyTargetPolicy {
  std::vector<AddressRange> allow;
  std::vector<AddressRange> deny;
};

enum class TargetRule {
  kDenied,    // in a deny range
  kAllowed,   // in an allow range
  kInternal,  // in a built-in internal range
  kPublic,    // in none of them
};

struct TargetVerdict {
  bool allowed = false;
  TargetRule rule = TargetRule::kPublic;
  std::optional<AddressRange> range;  // the range that decided; none for kPublic
  // One line naming the range: "deny range 10.0.0.0/8", "allow range 127.0.0.1/32",
  // "internal range 127.0.0.0/8 (loopback)", "not in an internal range".
  std::string reason;
};

TargetVerdict judge_target(const NotifyTargetPolicy& policy, const IpAddress& address);

}  // namespace printrelay
