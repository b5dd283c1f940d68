#include "agent/durable_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "temp_dir.h"

namespace printrelay::agent {
namespace {

using printrelay::testing::TempDir;

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

TEST(DurableFile, WritesTheNewContentWithMode0600) {
  TempDir dir;
  const auto path = dir.path() / "tokens.json";
  ASSERT_TRUE(write_durably(path, R"({"u":"t1"})"));
  EXPECT_EQ(*read_file(path), R"({"u":"t1"})");
  EXPECT_EQ(mode_of(path), 0600u);
}

// A temp file left by a crash (or planted) with a wider mode must not lend its mode to the token
// file: the temp file is made afresh with 0600, never written and then chmod-ed.
TEST(DurableFile, ALeftoverTempFileDoesNotWidenTheMode) {
  TempDir dir;
  const auto path = dir.path() / "tokens.json";
  { std::ofstream(dir.path() / "tokens.json.tmp") << "stale"; }
  ::chmod((dir.path() / "tokens.json.tmp").c_str(), 0644);
  ASSERT_TRUE(write_durably(path, R"({"u":"secret"})"));
  EXPECT_EQ(*read_file(path), R"({"u":"secret"})");
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "tokens.json.tmp"));
}

TEST(DurableFile, AppendedLogsAre0600) {
  TempDir dir;
  const auto path = dir.path() / "receipts.log";
  ASSERT_TRUE(append_line(path, "{}"));
  EXPECT_EQ(mode_of(path), 0600u);
}

}  // namespace
}  // namespace printrelay::agent
