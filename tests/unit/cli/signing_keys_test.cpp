#include "cli/signing_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "../agent/temp_dir.h"
#include "net/signing.h"

namespace printrelay::cli {
namespace {

namespace fs = std::filesystem;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

std::string text_of(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(KeysDir, FlagThenEnvironmentThenHome) {
  auto env = env_of({{"PRINTRELAY_KEYS_DIR", "/vendor/keys"}, {"HOME", "/home/svc"}});
  EXPECT_EQ(*resolve_keys_dir("/flag", env), "/flag");
  EXPECT_EQ(*resolve_keys_dir("", env), "/vendor/keys");
  EXPECT_EQ(*resolve_keys_dir("", env_of({{"HOME", "/home/svc"}})),
            "/home/svc/.config/printrelay/keys");
  auto none = resolve_keys_dir("", env_of({}));
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("PRINTRELAY_KEYS_DIR"), std::string::npos);
}

TEST(KeyName, IsAFileNameNeverAPath) {
  for (const char* good : {"vendor", "vendor-2026", "fw.signing_key", "A1"}) {
    EXPECT_TRUE(check_key_name(good)) << good;
  }
  for (const std::string& bad :
       std::vector<std::string>{"", ".hidden", "-x", "../x", "a/b", "a b", std::string(65, 'k')}) {
    EXPECT_FALSE(check_key_name(bad)) << bad;
  }
}

TEST(KeyFiles, CreateWritesPrivate0600AndPublicThatMatch) {
  testing::TempDir tmp;
  const std::string dir = (tmp.path() / "keys").string();
  auto key = create_key_files(dir, "vendor");
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->name, "vendor");
  EXPECT_TRUE(key->has_private);
  EXPECT_EQ(key->key_id.size(), 16u);
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(fs::path(dir) / "vendor.key"), 0600u);
  const std::string private_pem = text_of(fs::path(dir) / "vendor.key");
  const std::string public_pem = text_of(fs::path(dir) / "vendor.pub");
  EXPECT_EQ(*key_id(public_pem), key->key_id);
  EXPECT_EQ(*public_pem_of(private_pem), public_pem);
  EXPECT_EQ(*read_private_key(dir, "vendor"), private_pem);
}

TEST(KeyFiles, CreateNeverOverwritesAKey) {
  testing::TempDir tmp;
  const std::string dir = tmp.path().string();
  auto first = create_key_files(dir, "vendor");
  ASSERT_TRUE(first);
  const std::string before = text_of(tmp.path() / "vendor.key");
  auto again = create_key_files(dir, "vendor");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(text_of(tmp.path() / "vendor.key"), before);
  // A lone public key also blocks the name.
  std::ofstream(tmp.path() / "other.pub") << "x";
  EXPECT_EQ(create_key_files(dir, "other").error().kind, ErrorKind::kConflict);
  EXPECT_FALSE(fs::exists(tmp.path() / "other.key"));
  EXPECT_EQ(create_key_files(dir, "../escape").error().kind, ErrorKind::kBadInput);
}

TEST(KeyFiles, ListShowsIdsPrivatePresenceAndProblems) {
  testing::TempDir tmp;
  const std::string dir = tmp.path().string();
  auto vendor = create_key_files(dir, "vendor");
  auto lab = create_key_files(dir, "lab");
  ASSERT_TRUE(vendor && lab);
  // A trusted public key without its private half (another vendor's key).
  auto foreign = make_signing_key();
  std::ofstream(tmp.path() / "partner.pub") << foreign->public_pem;
  // lab.pub replaced by another key's public half: listed with a problem.
  std::ofstream(tmp.path() / "lab.pub", std::ios::trunc) << foreign->public_pem;
  std::ofstream(tmp.path() / "broken.key") << "not a key";
  std::ofstream(tmp.path() / "notes.txt") << "ignored";

  auto keys = list_key_files(dir);
  ASSERT_TRUE(keys) << keys.error().message;
  ASSERT_EQ(keys->size(), 4u);
  EXPECT_EQ((*keys)[0].name, "broken");
  EXPECT_TRUE((*keys)[0].key_id.empty());
  EXPECT_NE((*keys)[0].problem.find("broken.key"), std::string::npos) << (*keys)[0].problem;
  EXPECT_EQ((*keys)[1].name, "lab");
  EXPECT_EQ((*keys)[1].key_id, lab->key_id);  // the private key decides the id
  EXPECT_NE((*keys)[1].problem.find("does not match"), std::string::npos);
  EXPECT_EQ((*keys)[2].name, "partner");
  EXPECT_FALSE((*keys)[2].has_private);
  EXPECT_EQ((*keys)[2].key_id, *key_id(foreign->public_pem));
  EXPECT_EQ((*keys)[3].name, "vendor");
  EXPECT_TRUE((*keys)[3].has_private);
  EXPECT_EQ((*keys)[3].key_id, vendor->key_id);
  EXPECT_TRUE((*keys)[3].problem.empty());
  EXPECT_EQ(to_json((*keys)[3]),
            (Json{{"name", "vendor"}, {"key_id", vendor->key_id}, {"private", true}}));

  auto none = list_key_files((tmp.path() / "absent").string());
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(KeyFiles, ReadingAMissingKeySaysHowToMakeOne) {
  testing::TempDir tmp;
  auto r = read_private_key(tmp.path().string(), "vendor");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(r.error().message.find("relayctl keys create vendor"), std::string::npos);
}

}  // namespace
}  // namespace printrelay::cli
