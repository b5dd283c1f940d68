#include "core/address_policy.h"

#include <algorithm>
#include <initializer_list>
#include <utility>

#include "core/json_text.h"

namespace printrelay {
namespace {

constexpr std::size_t kIpv6Groups = 8;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// 1 to `max_digits` decimal digits without a leading zero (but "0"), at most `max`.
std::optional<int> small_number(std::string_view text, std::size_t max_digits, int max) {
  if (text.empty() || text.size() > max_digits || !std::all_of(text.begin(), text.end(), is_digit))
    return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  int value = 0;
  for (char c : text) value = value * 10 + (c - '0');
  if (value > max) return std::nullopt;
  return value;
}

std::optional<std::array<std::uint8_t, 4>> parse_ipv4(std::string_view text) {
  std::array<std::uint8_t, 4> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto dot = text.find('.');
    const bool last = i + 1 == out.size();
    if (last != (dot == std::string_view::npos)) return std::nullopt;
    auto part = small_number(text.substr(0, dot), 3, 255);
    if (!part) return std::nullopt;
    out[i] = std::uint8_t(*part);
    if (!last) text.remove_prefix(dot + 1);
  }
  return out;
}

// The 16-bit groups of one side of "::" ("" is none); an IPv4 address may end `part` when
// `last` (the side that ends the address), as two groups.
std::optional<std::vector<std::uint16_t>> parse_groups(std::string_view part, bool last) {
  std::vector<std::uint16_t> groups;
  if (part.empty()) return groups;
  while (true) {
    const auto colon = part.find(':');
    const std::string_view group = part.substr(0, colon);
    if (colon == std::string_view::npos && last && group.find('.') != std::string_view::npos) {
      auto v4 = parse_ipv4(group);
      if (!v4) return std::nullopt;
      groups.push_back(std::uint16_t((*v4)[0] << 8 | (*v4)[1]));
      groups.push_back(std::uint16_t((*v4)[2] << 8 | (*v4)[3]));
      return groups;
    }
    if (group.empty() || group.size() > 4) return std::nullopt;
    std::uint16_t value = 0;
    for (char c : group) {
      const int digit = hex_value(c);
      if (digit < 0) return std::nullopt;
      value = std::uint16_t(value << 4 | digit);
    }
    groups.push_back(value);
    if (colon == std::string_view::npos) return groups;
    part.remove_prefix(colon + 1);
  }
}

std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view text) {
  const auto gap = text.find("::");
  std::optional<std::vector<std::uint16_t>> head, tail;
  if (gap == std::string_view::npos) {
    head = parse_groups(text, true);
    tail.emplace();
    if (!head || head->size() != kIpv6Groups) return std::nullopt;
  } else {
    const std::string_view after = text.substr(gap + 2);
    if (after.find("::") != std::string_view::npos) return std::nullopt;
    head = parse_groups(text.substr(0, gap), false);
    tail = parse_groups(after, true);
    // "::" stands for at least one zero group.
    if (!head || !tail || head->size() + tail->size() >= kIpv6Groups) return std::nullopt;
  }
  std::array<std::uint8_t, 16> out{};
  for (std::size_t i = 0; i < head->size(); ++i) {
    out[2 * i] = std::uint8_t((*head)[i] >> 8);
    out[2 * i + 1] = std::uint8_t((*head)[i] & 0xff);
  }
  const std::size_t tail_start = kIpv6Groups - tail->size();
  for (std::size_t i = 0; i < tail->size(); ++i) {
    out[2 * (tail_start + i)] = std::uint8_t((*tail)[i] >> 8);
    out[2 * (tail_start + i) + 1] = std::uint8_t((*tail)[i] & 0xff);
  }
  return out;
}

bool starts_with_bytes(const IpAddress& a, std::initializer_list<std::uint8_t> prefix) {
  return a.v6 && std::equal(prefix.begin(), prefix.end(), a.bytes.begin());
}

IpAddress ipv4_from(const IpAddress& a, std::size_t offset) {
  IpAddress out;
  std::copy_n(a.bytes.begin() + offset, 4, out.bytes.begin());
  return out;
}

int bit_count(const IpAddress& a) { return a.v6 ? 128 : 32; }

// `a` with every bit after the first `prefix_bits` cleared.
IpAddress masked(IpAddress a, int prefix_bits) {
  for (int byte = 0; byte < 16; ++byte) {
    const int keep = std::clamp(prefix_bits - 8 * byte, 0, 8);
    a.bytes[byte] &= std::uint8_t(0xff00 >> keep);
  }
  return a;
}

// The range contains the address, or the IPv4 address it carries.
bool covers(const AddressRange& range, const IpAddress& address) {
  if (range.contains(address)) return true;
  auto v4 = carried_ipv4(address);
  return v4 && range.contains(*v4);
}

}  // namespace

Result<IpAddress> parse_ip_address(std::string_view text) {
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    auto v4 = parse_ipv4(text);
    if (!v4) return bad_input(quoted(text) + " is not an IPv4 address (four numbers 0-255)");
    std::copy(v4->begin(), v4->end(), a.bytes.begin());
    return a;
  }
  auto v6 = parse_ipv6(text);
  if (!v6) return bad_input(quoted(text) + " is not an IPv6 address");
  a.v6 = true;
  a.bytes = *v6;
  return a;
}

Result<IpAddress> ip_address_from_bytes(std::span<const std::uint8_t> bytes) {
  if (bytes.size() != 4 && bytes.size() != 16) {
    return bad_input("an IP address has 4 or 16 bytes, not " + std::to_string(bytes.size()));
  }
  IpAddress a;
  a.v6 = bytes.size() == 16;
  std::copy(bytes.begin(), bytes.end(), a.bytes.begin());
  return a;
}

std::string to_string(const IpAddress& a) {
  auto dotted = [](const std::uint8_t* b) {
    return std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
           std::to_string(b[3]);
  };
  if (!a.v6) return dotted(a.bytes.data());
  if (starts_with_bytes(a, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})) {
    return "::ffff:" + dotted(a.bytes.data() + 12);
  }
  std::array<unsigned, kIpv6Groups> groups{};
  for (std::size_t i = 0; i < kIpv6Groups; ++i)
    groups[i] = a.bytes[2 * i] << 8 | a.bytes[2 * i + 1];
  // RFC 5952 4.2: the first longest run of at least two zero groups becomes "::".
  std::size_t best_start = kIpv6Groups, best_length = 1;
  for (std::size_t i = 0; i < kIpv6Groups;) {
    std::size_t j = i;
    while (j < kIpv6Groups && groups[j] == 0) ++j;
    if (j - i > best_length) {
      best_start = i;
      best_length = j - i;
    }
    i = j == i ? i + 1 : j;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < kIpv6Groups; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_length - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::string group;
    for (unsigned v = groups[i]; v != 0 || group.empty(); v >>= 4) group.insert(0, 1, kHex[v & 15]);
    out += group;
  }
  return out;
}

std::optional<IpAddress> carried_ipv4(const IpAddress& a) {
  if (starts_with_bytes(a, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})) return ipv4_from(a, 12);
  if (starts_with_bytes(a, {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0})) {
    return ipv4_from(a, 12);
  }
  return std::nullopt;
}

bool AddressRange::contains(const IpAddress& address) const {
  return address.v6 == base.v6 && masked(address, prefix_bits) == base;
}

Result<AddressRange> parse_address_range(std::string_view raw) {
  const std::string_view text = trimmed(raw);
  if (text.empty()) return bad_input("empty address range");
  const auto slash = text.find('/');
  auto address = parse_ip_address(text.substr(0, slash));
  if (!address) {
    return bad_input("range " + quoted(text) + ": " + address.error().message);
  }
  AddressRange range{*address, bit_count(*address)};
  if (slash != std::string_view::npos) {
    auto bits = small_number(text.substr(slash + 1), 3, range.prefix_bits);
    if (!bits) {
      return bad_input("range " + quoted(text) + ": the prefix length must be a number 0-" +
                       std::to_string(range.prefix_bits));
    }
    range.prefix_bits = *bits;
  }
  const IpAddress base = masked(range.base, range.prefix_bits);
  if (base != range.base) {
    return bad_input("range " + quoted(text) + " has host bits set (did you mean " +
                     to_string(AddressRange{base, range.prefix_bits}) + "?)");
  }
  return range;
}

Result<std::vector<AddressRange>> parse_address_ranges(const std::vector<std::string>& items) {
  std::vector<AddressRange> out;
  for (const std::string& item : items) {
    std::string_view rest = item;
    while (true) {
      const auto comma = rest.find(',');
      auto range = parse_address_range(rest.substr(0, comma));
      if (!range) return range.error();
      out.push_back(*range);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

std::string to_string(const AddressRange& range) {
  return to_string(range.base) + "/" + std::to_string(range.prefix_bits);
}

const std::vector<InternalRange>& internal_ranges() {
  static const std::vector<InternalRange> ranges = [] {
    // Most specific first where ranges nest, so that the narrower one is named.
    const std::pair<const char*, const char*> table[] = {
        {"0.0.0.0/8", "this network"},
        {"127.0.0.0/8", "loopback"},
        {"10.0.0.0/8", "private"},
        {"172.16.0.0/12", "private"},
        {"192.168.0.0/16", "private"},
        {"169.254.0.0/16", "link-local, cloud metadata"},
        {"100.64.0.0/10", "shared address space"},
        {"192.0.0.0/24", "IETF protocol assignments"},
        {"198.18.0.0/15", "benchmarking"},
        {"224.0.0.0/4", "multicast"},
        {"255.255.255.255/32", "broadcast"},
        {"240.0.0.0/4", "reserved"},
        {"::/128", "unspecified"},
        {"::1/128", "loopback"},
        {"fe80::/10", "link-local"},
        {"fc00::/7", "unique local"},
        {"ff00::/8", "multicast"},
    };
    std::vector<InternalRange> out;
    for (const auto& [text, name] : table) out.push_back({*parse_address_range(text), name});
    return out;
  }();
  return ranges;
}

TargetVerdict judge_target(const NotifyTargetPolicy& policy, const IpAddress& address) {
  for (const auto& range : policy.deny) {
    if (covers(range, address)) {
      return {false, TargetRule::kDenied, range, "deny range " + to_string(range)};
    }
  }
  for (const auto& range : policy.allow) {
    if (covers(range, address)) {
      return {true, TargetRule::kAllowed, range, "allow range " + to_string(range)};
    }
  }
  for (const auto& internal : internal_ranges()) {
    if (covers(internal.range, address)) {
      return {false, TargetRule::kInternal, internal.range,
              "internal range " + to_string(internal.range) + " (" + internal.name + ")"};
    }
  }
  return {true, TargetRule::kPublic, std::nullopt, "not in an internal range"};
}

}  // namespace printrelay
