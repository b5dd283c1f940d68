#include "core/address_policy.h"

#include <gtest/gtest.h>

namespace printrelay {
namespace {

IpAddress ip(std::string_view text) {
  auto a = parse_ip_address(text);
  EXPECT_TRUE(a) << text << ": " << a.error().message;
  return a ? *a : IpAddress{};
}

AddressRange range(std::string_view text) {
  auto r = parse_address_range(text);
  EXPECT_TRUE(r) << text << ": " << r.error().message;
  return r ? *r : AddressRange{};
}

// The range as written back, or "bad: <message>".
std::string range_text(std::string_view text) {
  auto r = parse_address_range(text);
  if (!r) {
    EXPECT_EQ(r.error().kind, ErrorKind::kBadInput);
    return "bad: " + r.error().message;
  }
  return to_string(*r);
}

NotifyTargetPolicy policy(std::vector<std::string> allow, std::vector<std::string> deny) {
  auto a = parse_address_ranges(allow);
  auto d = parse_address_ranges(deny);
  EXPECT_TRUE(a && d);
  return {a ? *a : std::vector<AddressRange>{}, d ? *d : std::vector<AddressRange>{}};
}

// "allowed: <reason>" or "refused: <reason>".
std::string verdict(const NotifyTargetPolicy& p, std::string_view address) {
  const TargetVerdict v = judge_target(p, ip(address));
  EXPECT_EQ(v.range.has_value(), v.rule != TargetRule::kPublic) << address;
  return (v.allowed ? "allowed: " : "refused: ") + v.reason;
}

TEST(AddressPolicy, ParsesIpv4AndIpv6Text) {
  EXPECT_EQ(to_string(ip("192.0.2.1")), "192.0.2.1");
  EXPECT_FALSE(ip("192.0.2.1").v6);
  EXPECT_EQ(to_string(ip("0.0.0.0")), "0.0.0.0");
  EXPECT_EQ(to_string(ip("255.255.255.255")), "255.255.255.255");
  EXPECT_EQ(to_string(ip("2001:DB8:0:0:0:0:0:1")), "2001:db8::1");
  EXPECT_TRUE(ip("2001:db8::1").v6);
  EXPECT_EQ(to_string(ip("::")), "::");
  EXPECT_EQ(to_string(ip("::1")), "::1");
  EXPECT_EQ(to_string(ip("fe80::")), "fe80::");
  EXPECT_EQ(to_string(ip("1:0:0:2:0:0:0:3")), "1:0:0:2::3");       // the longest run
  EXPECT_EQ(to_string(ip("1:0:0:2:0:0:3:4")), "1::2:0:0:3:4");     // the first of equal runs
  EXPECT_EQ(to_string(ip("1:2:3:4:5:6:0:8")), "1:2:3:4:5:6:0:8");  // one zero group stays
  EXPECT_EQ(to_string(ip("1:2:3:4:5:6:7::")), "1:2:3:4:5:6:7:0");  // "::" for one group
  EXPECT_EQ(to_string(ip("::ffff:7f00:1")), "::ffff:127.0.0.1");
  EXPECT_EQ(to_string(ip("::FFFF:10.1.2.3")), "::ffff:10.1.2.3");
  EXPECT_EQ(to_string(ip("64:ff9b::192.0.2.33")), "64:ff9b::c000:221");
  EXPECT_EQ(to_string(ip("1:2:3:4:5:6:1.2.3.4")), "1:2:3:4:5:6:102:304");
}

TEST(AddressPolicy, RefusesMalformedAddresses) {
  for (const char* bad : {"",
                          "1.2.3",
                          "1.2.3.4.5",
                          "256.1.1.1",
                          "01.2.3.4",
                          "1.2.3.-4",
                          "1..2.3",
                          "1.2.3.4 x",
                          "a.b.c.d",
                          ":",
                          ":::",
                          "1::2::3",
                          ":1::",
                          "1:2:3:4:5:6:7:8:9",
                          "1:2:3:4:5:6:7",
                          "1:2:3:4:5:6:7:8::",
                          "12345::",
                          "g::1",
                          "fe80::1%eth0",
                          "[::1]",
                          "1.2.3.4::",
                          "::1.2.3",
                          "1:2:3:4:5:6:7:1.2.3.4"}) {
    auto a = parse_ip_address(bad);
    EXPECT_FALSE(a) << bad << " parsed as " << to_string(*a);
    if (!a) {
      EXPECT_EQ(a.error().kind, ErrorKind::kBadInput);
    }
  }
}

TEST(AddressPolicy, AddressesFromSocketBytes) {
  const std::uint8_t v4[] = {169, 254, 169, 254};
  auto a = ip_address_from_bytes(v4);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, ip("169.254.169.254"));
  std::uint8_t v6[16] = {};
  v6[15] = 1;
  auto b = ip_address_from_bytes(v6);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, ip("::1"));
  const std::uint8_t odd[5] = {1, 2, 3, 4, 5};
  auto c = ip_address_from_bytes(odd);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, ErrorKind::kBadInput);
}

TEST(AddressPolicy, ParsesCidrRangesAndBareAddresses) {
  EXPECT_EQ(range_text("10.0.0.0/8"), "10.0.0.0/8");
  EXPECT_EQ(range_text("2001:db8::/32"), "2001:db8::/32");
  EXPECT_EQ(range_text("127.0.0.1"), "127.0.0.1/32");  // a bare address is one host
  EXPECT_EQ(range_text("::1"), "::1/128");
  EXPECT_EQ(range_text("0.0.0.0/0"), "0.0.0.0/0");
  EXPECT_EQ(range_text("::/0"), "::/0");
  EXPECT_EQ(range_text("  192.168.0.0/16 "), "192.168.0.0/16");
  EXPECT_EQ(range("10.0.0.0/8").prefix_bits, 8);
  EXPECT_EQ(range("::1").prefix_bits, 128);
}

TEST(AddressPolicy, BadCidrTextSaysWhatIsWrong) {
  EXPECT_EQ(range_text("10.0.0.0/33"),
            "bad: range \"10.0.0.0/33\": the prefix length must be a number 0-32");
  EXPECT_EQ(range_text("::/129"),
            "bad: range \"::/129\": the prefix length must be a number 0-128");
  EXPECT_EQ(range_text("10.1.0.0/8"),
            "bad: range \"10.1.0.0/8\" has host bits set (did you mean 10.0.0.0/8?)");
  EXPECT_EQ(range_text("2001:db8::1/32"),
            "bad: range \"2001:db8::1/32\" has host bits set (did you mean 2001:db8::/32?)");
  EXPECT_EQ(range_text("10.0.0.0/8x").substr(0, 30), "bad: range \"10.0.0.0/8x\": the ");
  for (const char* bad : {"10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/08", "10.0.0.0/8/8", "/8", "",
                          "   ", "localhost", "10.0.0.0 /8", "300.0.0.0/8", "example.com/24"}) {
    EXPECT_TRUE(range_text(bad).starts_with("bad: ")) << bad << " -> " << range_text(bad);
  }
  EXPECT_EQ(range_text("localhost"),
            "bad: range \"localhost\": \"localhost\" is not an IPv4 address (four numbers 0-255)");
}

TEST(AddressPolicy, RangeListsAreRepeatableAndCommaSeparated) {
  auto r = parse_address_ranges({"10.0.0.0/8,192.168.0.0/16", "fc00::/7", " 127.0.0.1 , ::1"});
  ASSERT_TRUE(r) << r.error().message;
  std::vector<std::string> texts;
  for (const auto& x : *r) texts.push_back(to_string(x));
  EXPECT_EQ(texts, (std::vector<std::string>{"10.0.0.0/8", "192.168.0.0/16", "fc00::/7",
                                             "127.0.0.1/32", "::1/128"}));
  EXPECT_TRUE(parse_address_ranges({})->empty());
  auto bad = parse_address_ranges({"10.0.0.0/8", "172.16.0.0/12,172.16.0.0/33"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("172.16.0.0/33"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(parse_address_ranges({"10.0.0.0/8,"}));  // an empty range
  EXPECT_FALSE(parse_address_ranges({""}));
}

TEST(AddressPolicy, RangeContainsItsFamilyOnly) {
  EXPECT_TRUE(range("10.0.0.0/8").contains(ip("10.255.255.255")));
  EXPECT_FALSE(range("10.0.0.0/8").contains(ip("11.0.0.0")));
  EXPECT_TRUE(range("172.16.0.0/12").contains(ip("172.31.0.1")));
  EXPECT_FALSE(range("172.16.0.0/12").contains(ip("172.32.0.1")));
  EXPECT_TRUE(range("0.0.0.0/0").contains(ip("8.8.8.8")));
  EXPECT_FALSE(range("0.0.0.0/0").contains(ip("::1")));
  EXPECT_FALSE(range("::/0").contains(ip("8.8.8.8")));
  EXPECT_TRUE(range("fe80::/10").contains(ip("febf:ffff::1")));
  EXPECT_FALSE(range("fe80::/10").contains(ip("fec0::1")));
  EXPECT_TRUE(range("::1").contains(ip("::1")));
  EXPECT_FALSE(range("::1").contains(ip("::2")));
  // The address itself only: the IPv4 address a mapped one carries is the policy's concern.
  EXPECT_FALSE(range("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
}

TEST(AddressPolicy, MappedAndNat64AddressesCarryAnIpv4Address) {
  EXPECT_EQ(carried_ipv4(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
  EXPECT_EQ(carried_ipv4(ip("64:ff9b::a9fe:a9fe")), ip("169.254.169.254"));
  EXPECT_EQ(carried_ipv4(ip("127.0.0.1")), std::nullopt);
  EXPECT_EQ(carried_ipv4(ip("2001:db8::7f00:1")), std::nullopt);
  EXPECT_EQ(carried_ipv4(ip("64:ff9b:1::7f00:1")), std::nullopt);  // not the well-known prefix
  EXPECT_EQ(carried_ipv4(ip("::7f00:1")), std::nullopt);  // IPv4-compatible: deprecated, not routed
}

TEST(AddressPolicy, EveryBuiltInInternalRangeIsRefusedByDefault) {
  const NotifyTargetPolicy none;
  struct Case {
    const char* address;
    const char* range;
  };
  for (const Case& c : {Case{"0.1.2.3", "0.0.0.0/8"},
                        Case{"127.0.0.1", "127.0.0.0/8"},
                        Case{"127.255.255.254", "127.0.0.0/8"},
                        Case{"10.20.30.40", "10.0.0.0/8"},
                        Case{"172.16.0.1", "172.16.0.0/12"},
                        Case{"172.31.255.255", "172.16.0.0/12"},
                        Case{"192.168.1.1", "192.168.0.0/16"},
                        Case{"169.254.169.254", "169.254.0.0/16"},
                        Case{"169.254.0.1", "169.254.0.0/16"},
                        Case{"100.64.0.1", "100.64.0.0/10"},
                        Case{"100.127.255.255", "100.64.0.0/10"},
                        Case{"192.0.0.8", "192.0.0.0/24"},
                        Case{"198.18.0.1", "198.18.0.0/15"},
                        Case{"198.19.255.255", "198.18.0.0/15"},
                        Case{"224.0.0.1", "224.0.0.0/4"},
                        Case{"239.255.255.250", "224.0.0.0/4"},
                        Case{"240.0.0.1", "240.0.0.0/4"},
                        Case{"255.255.255.255", "255.255.255.255/32"},
                        Case{"::", "::/128"},
                        Case{"::1", "::1/128"},
                        Case{"fe80::1", "fe80::/10"},
                        Case{"fc00::1", "fc00::/7"},
                        Case{"fd12:3456::1", "fc00::/7"},
                        Case{"ff02::1", "ff00::/8"}}) {
    const TargetVerdict v = judge_target(none, ip(c.address));
    EXPECT_FALSE(v.allowed) << c.address;
    EXPECT_EQ(v.rule, TargetRule::kInternal) << c.address;
    ASSERT_TRUE(v.range) << c.address;
    EXPECT_EQ(to_string(*v.range), c.range) << c.address;
  }
  EXPECT_EQ(verdict(none, "127.0.0.1"), "refused: internal range 127.0.0.0/8 (loopback)");
  EXPECT_EQ(verdict(none, "169.254.169.254"),
            "refused: internal range 169.254.0.0/16 (link-local, cloud metadata)");
  EXPECT_EQ(internal_ranges().size(), 17u);
}

TEST(AddressPolicy, EverythingElseIsAllowedByDefault) {
  const NotifyTargetPolicy none;
  for (const char* a : {"8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.0", "192.169.0.1",
                        "100.63.255.255", "100.128.0.0", "169.253.255.255", "198.17.255.255",
                        "198.20.0.0", "192.0.1.1", "223.255.255.255", "11.0.0.1", "1.0.0.0",
                        "2001:db8::1", "2606:4700::1111", "::2", "fec0::1", "fe00::1"}) {
    const TargetVerdict v = judge_target(none, ip(a));
    EXPECT_TRUE(v.allowed) << a << ": " << v.reason;
    EXPECT_EQ(v.rule, TargetRule::kPublic) << a;
  }
  EXPECT_EQ(verdict(none, "8.8.8.8"), "allowed: not in an internal range");
}

TEST(AddressPolicy, MappedAndNat64AddressesAreJudgedAsTheirIpv4Address) {
  const NotifyTargetPolicy none;
  EXPECT_EQ(verdict(none, "::ffff:127.0.0.1"), "refused: internal range 127.0.0.0/8 (loopback)");
  EXPECT_EQ(verdict(none, "::ffff:169.254.169.254"),
            "refused: internal range 169.254.0.0/16 (link-local, cloud metadata)");
  EXPECT_EQ(verdict(none, "64:ff9b::10.0.0.1"), "refused: internal range 10.0.0.0/8 (private)");
  EXPECT_EQ(verdict(none, "64:ff9b::7f00:1"), "refused: internal range 127.0.0.0/8 (loopback)");
  EXPECT_EQ(verdict(none, "::ffff:8.8.8.8"), "allowed: not in an internal range");
  EXPECT_EQ(verdict(none, "64:ff9b::808:808"), "allowed: not in an internal range");
  // The allow and deny lists see the IPv4 address too.
  EXPECT_EQ(verdict(policy({"127.0.0.1"}, {}), "::ffff:127.0.0.1"),
            "allowed: allow range 127.0.0.1/32");
  EXPECT_EQ(verdict(policy({"127.0.0.1"}, {}), "64:ff9b::127.0.0.1"),
            "allowed: allow range 127.0.0.1/32");
  EXPECT_EQ(verdict(policy({}, {"8.8.8.0/24"}), "::ffff:8.8.8.8"),
            "refused: deny range 8.8.8.0/24");
  EXPECT_EQ(verdict(policy({}, {"8.8.8.0/24"}), "64:ff9b::8.8.8.8"),
            "refused: deny range 8.8.8.0/24");
  // ... and the IPv6 form: all of NAT64 can be denied.
  EXPECT_EQ(verdict(policy({}, {"64:ff9b::/96"}), "64:ff9b::8.8.8.8"),
            "refused: deny range 64:ff9b::/96");
  EXPECT_EQ(verdict(policy({}, {"64:ff9b::/96"}), "8.8.8.8"), "allowed: not in an internal range");
}

TEST(AddressPolicy, AllowListOpensAnInternalRange) {
  const NotifyTargetPolicy p = policy({"127.0.0.1/32", "10.1.0.0/16", "fd00::/8"}, {});
  EXPECT_EQ(verdict(p, "127.0.0.1"), "allowed: allow range 127.0.0.1/32");
  EXPECT_EQ(verdict(p, "127.0.0.2"), "refused: internal range 127.0.0.0/8 (loopback)");
  EXPECT_EQ(verdict(p, "10.1.2.3"), "allowed: allow range 10.1.0.0/16");
  EXPECT_EQ(verdict(p, "10.2.0.1"), "refused: internal range 10.0.0.0/8 (private)");
  EXPECT_EQ(verdict(p, "fd12::1"), "allowed: allow range fd00::/8");
  EXPECT_EQ(verdict(p, "fc00::1"), "refused: internal range fc00::/7 (unique local)");
  // A public address in an allow range is named by it.
  EXPECT_EQ(verdict(policy({"8.8.8.0/24"}, {}), "8.8.8.8"), "allowed: allow range 8.8.8.0/24");
}

TEST(AddressPolicy, DenyListWinsOverAllowList) {
  const NotifyTargetPolicy p = policy({"127.0.0.0/8", "0.0.0.0/0"}, {"127.0.0.1/32"});
  EXPECT_EQ(verdict(p, "127.0.0.1"), "refused: deny range 127.0.0.1/32");
  EXPECT_EQ(verdict(p, "127.0.0.2"), "allowed: allow range 127.0.0.0/8");
  // The deny list also refuses what is public.
  const NotifyTargetPolicy q = policy({}, {"203.0.113.0/24", "2001:db8::/32"});
  EXPECT_EQ(verdict(q, "203.0.113.9"), "refused: deny range 203.0.113.0/24");
  EXPECT_EQ(verdict(q, "2001:db8::5"), "refused: deny range 2001:db8::/32");
  EXPECT_EQ(verdict(q, "203.0.114.1"), "allowed: not in an internal range");
  const TargetVerdict v = judge_target(q, ip("203.0.113.9"));
  EXPECT_EQ(v.rule, TargetRule::kDenied);
  EXPECT_EQ(v.range, range("203.0.113.0/24"));
  // The first range of a list that contains the address is the one named.
  EXPECT_EQ(verdict(policy({}, {"10.0.0.0/8", "10.1.0.0/16"}), "10.1.0.1"),
            "refused: deny range 10.0.0.0/8");
}

}  // namespace
}  // namespace printrelay
