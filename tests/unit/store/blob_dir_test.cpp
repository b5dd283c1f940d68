#include "store/blob_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "core/sha256.h"

namespace printrelay {
namespace {

namespace fs = std::filesystem;

// A fresh directory under /tmp, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "printrelay-blobs-XXXXXX");
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

class BlobDirectoryTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  std::string dir_ = (tmp_.path() / "data" / "artifacts").string();
  BlobDirectory blobs_{dir_};
};

TEST_F(BlobDirectoryTest, CreatesItsDirectory) {
  EXPECT_TRUE(fs::is_directory(dir_));
  EXPECT_TRUE(blobs_.list().empty());
  // Opening an existing directory is fine too.
  BlobDirectory again(dir_ + "/");
  EXPECT_EQ(again.dir(), dir_);
}

TEST_F(BlobDirectoryTest, PutThenReadRangesSizeAndMeta) {
  const std::string bytes = "firmware image bytes 0123456789";
  const std::string sha = sha256_hex(bytes);
  const Json meta = {{"sha256", sha}, {"kind", "firmware"}, {"signature", "ab"}};
  ASSERT_TRUE(blobs_.put(sha, bytes, meta));

  EXPECT_EQ(entries(dir_), (std::vector<std::string>{sha, sha + ".json"}));
  auto size = blobs_.size(sha);
  ASSERT_TRUE(size) << size.error().message;
  EXPECT_EQ(*size, std::int64_t(bytes.size()));
  auto m = blobs_.meta(sha);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(*m, meta);

  EXPECT_EQ(*blobs_.read(sha, 0, 1 << 20), bytes);
  EXPECT_EQ(*blobs_.read(sha, 0, 8), "firmware");
  EXPECT_EQ(*blobs_.read(sha, 9, 5), "image");
  // Past the end is clamped; at the end is empty; beyond it is bad input.
  EXPECT_EQ(*blobs_.read(sha, std::int64_t(bytes.size()) - 4, 100), "6789");
  EXPECT_EQ(*blobs_.read(sha, std::int64_t(bytes.size()), 100), "");
  EXPECT_EQ(*blobs_.read(sha, 3, 0), "");
  auto beyond = blobs_.read(sha, std::int64_t(bytes.size()) + 1, 1);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().kind, ErrorKind::kBadInput);
  EXPECT_EQ(blobs_.read(sha, -1, 1).error().kind, ErrorKind::kBadInput);
  EXPECT_EQ(blobs_.read(sha, 0, -1).error().kind, ErrorKind::kBadInput);
}

TEST_F(BlobDirectoryTest, EmptyBlobIsABlob) {
  const std::string sha = sha256_hex("");
  ASSERT_TRUE(blobs_.put(sha, "", Json::object()));
  EXPECT_EQ(*blobs_.size(sha), 0);
  EXPECT_EQ(*blobs_.read(sha, 0, 10), "");
}

TEST_F(BlobDirectoryTest, ListsAllMetasSortedBySha) {
  std::vector<std::string> shas;
  for (const std::string bytes : {"alpha", "beta", "gamma", "delta"}) {
    const std::string sha = sha256_hex(bytes);
    ASSERT_TRUE(blobs_.put(sha, bytes, Json{{"sha256", sha}, {"text", bytes}}));
    shas.push_back(sha);
  }
  std::sort(shas.begin(), shas.end());
  // A crash's leftover temporary file and a foreign file are not blobs.
  std::ofstream(fs::path(dir_) / (".tmp-" + shas[0] + ".json-abc123")) << "{}";
  std::ofstream(fs::path(dir_) / "README.json") << "{}";
  auto listed = blobs_.list();
  ASSERT_EQ(listed.size(), shas.size());
  for (std::size_t i = 0; i < shas.size(); ++i) EXPECT_EQ(listed[i]["sha256"], shas[i]);
}

TEST_F(BlobDirectoryTest, WrongHashIsRefusedAndLeavesNothing) {
  const std::string sha = sha256_hex("the real bytes");
  auto s = blobs_.put(sha, "other bytes", Json::object());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::kBadInput);
  EXPECT_TRUE(entries(dir_).empty());
  EXPECT_EQ(blobs_.meta(sha).error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(blobs_.size(sha).error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(blobs_.read(sha, 0, 1).error().kind, ErrorKind::kNotFound);
  EXPECT_TRUE(blobs_.list().empty());
}

TEST_F(BlobDirectoryTest, BadNamesAreRefusedBeforeTouchingTheFileSystem) {
  // A file outside the blob directory that a traversal would reach.
  std::ofstream(tmp_.path() / "data" / "secret") << "do not serve";
  const std::string good = sha256_hex("x");
  std::string upper = good;
  for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad :
       {std::string(), std::string("../secret"), std::string("..") + "/" + good.substr(3),
        good.substr(1), good + "0", good + ".json", upper, std::string("/etc/passwd"),
        std::string(64, '.')}) {
    EXPECT_EQ(blobs_.put(bad, "x", Json::object()).error().kind, ErrorKind::kBadInput) << bad;
    EXPECT_EQ(blobs_.meta(bad).error().kind, ErrorKind::kBadInput) << bad;
    EXPECT_EQ(blobs_.size(bad).error().kind, ErrorKind::kBadInput) << bad;
    EXPECT_EQ(blobs_.read(bad, 0, 10).error().kind, ErrorKind::kBadInput) << bad;
  }
  EXPECT_TRUE(entries(dir_).empty());
}

TEST_F(BlobDirectoryTest, PutIsIdempotentAndReplacesMeta) {
  const std::string bytes(300000, 'z');  // more than one write() and read() buffer
  const std::string sha = sha256_hex(bytes);
  ASSERT_TRUE(blobs_.put(sha, bytes, Json{{"version", "1"}}));
  ASSERT_TRUE(blobs_.put(sha, bytes, Json{{"version", "2"}}));
  EXPECT_EQ(entries(dir_), (std::vector<std::string>{sha, sha + ".json"}));
  EXPECT_EQ((*blobs_.meta(sha))["version"], "2");
  EXPECT_EQ(*blobs_.read(sha, 0, 1 << 20), bytes);
  EXPECT_EQ(blobs_.list().size(), 1u);
}

TEST_F(BlobDirectoryTest, BlobWithoutMetaIsNotListed) {
  // What a crash between the blob's rename and the metadata's rename leaves.
  const std::string bytes = "half put";
  const std::string sha = sha256_hex(bytes);
  std::ofstream(fs::path(dir_) / sha) << bytes;
  EXPECT_TRUE(blobs_.list().empty());
  EXPECT_EQ(blobs_.meta(sha).error().kind, ErrorKind::kNotFound);
  ASSERT_TRUE(blobs_.put(sha, bytes, Json{{"ok", true}}));  // a retry completes it
  EXPECT_EQ(blobs_.list().size(), 1u);
}

TEST_F(BlobDirectoryTest, CorruptMetaIsUnavailable) {
  const std::string sha = sha256_hex("x");
  ASSERT_TRUE(blobs_.put(sha, "x", Json::object()));
  std::ofstream(fs::path(dir_) / (sha + ".json"), std::ios::trunc) << "{trunc";
  EXPECT_EQ(blobs_.meta(sha).error().kind, ErrorKind::kUnavailable);
  EXPECT_TRUE(blobs_.list().empty());
}

TEST_F(BlobDirectoryTest, NonUtf8MetaIsBadInput) {
  const std::string sha = sha256_hex("x");
  auto s = blobs_.put(sha, "x", Json{{"name", std::string("\xff\xfe")}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::kBadInput);
  EXPECT_TRUE(entries(dir_).empty());
}

// ---- put_file: a body streamed to a temporary file in the directory, then moved into place ----

// Writes `bytes` to a new ".tmp-" file in `dir`, as the HTTP server spools an upload.
std::string spool(const std::string& dir, const std::string& bytes,
                  const std::string& name = ".tmp-upload-test") {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string pread_all(const BlobFile& f) {
  std::string out(std::size_t(f.size_bytes()), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(f.fd(), out.data() + done, out.size() - done, off_t(done));
    if (n <= 0) break;
    done += std::size_t(n);
  }
  out.resize(done);
  return out;
}

TEST_F(BlobDirectoryTest, PutFileMovesTheFileIntoPlace) {
  const std::string bytes(3 * (1 << 20) + 17, 'f');  // more than put_file's read buffer
  const std::string sha = sha256_hex(bytes);
  const Json meta = {{"sha256", sha}, {"kind", "firmware"}};
  // The caller's own hash (computed while writing) and none (put_file hashes the file).
  for (const std::string& given : {sha, std::string()}) {
    const std::string temp = spool(dir_, bytes);
    auto s = blobs_.put_file(sha, temp, meta, given);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_FALSE(fs::exists(temp)) << "the temporary file is the blob now";
    EXPECT_EQ(entries(dir_), (std::vector<std::string>{sha, sha + ".json"}));
    EXPECT_EQ(*blobs_.size(sha), std::int64_t(bytes.size()));
    EXPECT_EQ(*blobs_.meta(sha), meta);
    EXPECT_EQ(*blobs_.read(sha, 5, 3), "fff");
    ASSERT_EQ(blobs_.list().size(), 1u);
  }
}

TEST_F(BlobDirectoryTest, PutFileWithAWrongHashStoresNothing) {
  const std::string sha = sha256_hex("the real bytes");
  for (const std::string& given : {std::string(), sha256_hex("other bytes")}) {
    const std::string temp = spool(dir_, "other bytes");
    auto s = blobs_.put_file(sha, temp, Json::object(), given);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, ErrorKind::kBadInput);
    // Nothing under a blob's name; the temporary file is the caller's to remove.
    EXPECT_EQ(entries(dir_), (std::vector<std::string>{".tmp-upload-test"}));
    EXPECT_EQ(blobs_.size(sha).error().kind, ErrorKind::kNotFound);
    EXPECT_TRUE(blobs_.list().empty());
  }
}

TEST_F(BlobDirectoryTest, PutFileTakesOnlyTemporaryFilesOfTheDirectory) {
  const std::string bytes = "image";
  const std::string sha = sha256_hex(bytes);
  const std::string outside = spool(tmp_.path().string(), bytes, ".tmp-outside");
  const std::string unmarked = spool(dir_, bytes, "upload");
  for (const std::string& path :
       {outside, unmarked, dir_ + "/.tmp-missing", dir_ + "/../artifacts/.tmp-upload-x",
        std::string("relative/.tmp-x")}) {
    auto s = blobs_.put_file(sha, path, Json::object());
    ASSERT_FALSE(s) << path;
    EXPECT_EQ(s.error().kind, ErrorKind::kBadInput) << path;
  }
  fs::create_directory(fs::path(dir_) / ".tmp-dir");
  EXPECT_EQ(blobs_.put_file(sha, dir_ + "/.tmp-dir", Json::object()).error().kind,
            ErrorKind::kBadInput);
  fs::create_symlink(outside, fs::path(dir_) / ".tmp-link");
  EXPECT_EQ(blobs_.put_file(sha, dir_ + "/.tmp-link", Json::object()).error().kind,
            ErrorKind::kBadInput);
  EXPECT_TRUE(fs::exists(outside));
  EXPECT_EQ(blobs_.size(sha).error().kind, ErrorKind::kNotFound);
  // Bad names and metadata are refused before the file is touched.
  const std::string temp = spool(dir_, bytes);
  EXPECT_EQ(blobs_.put_file("../secret", temp, Json::object()).error().kind, ErrorKind::kBadInput);
  EXPECT_EQ(blobs_.put_file(sha, temp, Json{{"n", std::string("\xff")}}).error().kind,
            ErrorKind::kBadInput);
  EXPECT_TRUE(fs::exists(temp));
  EXPECT_TRUE(blobs_.list().empty());
}

TEST_F(BlobDirectoryTest, PutFileReplacesAnExistingBlob) {
  const std::string bytes = "same bytes";
  const std::string sha = sha256_hex(bytes);
  ASSERT_TRUE(blobs_.put(sha, bytes, Json{{"version", "1"}}));
  ASSERT_TRUE(blobs_.put_file(sha, spool(dir_, bytes), Json{{"version", "2"}}));
  EXPECT_EQ(entries(dir_), (std::vector<std::string>{sha, sha + ".json"}));
  EXPECT_EQ((*blobs_.meta(sha))["version"], "2");
}

TEST_F(BlobDirectoryTest, OpenReadsTheBlobItOpened) {
  const std::string bytes = "version one of the image";
  const std::string sha = sha256_hex(bytes);
  EXPECT_EQ(blobs_.open(sha).error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(blobs_.open("../secret").error().kind, ErrorKind::kBadInput);
  ASSERT_TRUE(blobs_.put(sha, bytes, Json::object()));
  auto f = blobs_.open(sha);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->size_bytes(), std::int64_t(bytes.size()));
  // Replaced meanwhile (a new inode is renamed over the name): the open file is unchanged.
  ASSERT_TRUE(blobs_.put_file(sha, spool(dir_, bytes), Json{{"again", true}}));
  BlobFile moved = std::move(*f);
  EXPECT_EQ(f->fd(), -1);
  EXPECT_EQ(pread_all(moved), bytes);
}

TEST(BlobDirectory, UncreatableDirectoryThrows) {
  TempDir tmp;
  std::ofstream(tmp.path() / "file") << "x";
  EXPECT_THROW(BlobDirectory((tmp.path() / "file" / "artifacts").string()), std::runtime_error);
}

TEST_F(BlobDirectoryTest, RemoveUnlistsAndDeletesButAnOpenReaderKeepsItsBytes) {
  const std::string bytes = "an image the cache no longer needs";
  const std::string sha = sha256_hex(bytes);
  ASSERT_TRUE(blobs_.put(sha, bytes, Json{{"sha256", sha}}).ok());
  auto reader = blobs_.open(sha);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(blobs_.remove(sha).ok());
  EXPECT_TRUE(blobs_.list().empty());
  EXPECT_EQ(blobs_.meta(sha).error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(blobs_.open(sha).error().kind, ErrorKind::kNotFound);
  EXPECT_TRUE(entries(dir_).empty());
  std::string got(bytes.size(), '\0');
  EXPECT_EQ(::pread(reader->fd(), got.data(), got.size(), 0), ssize_t(bytes.size()));
  EXPECT_EQ(got, bytes);
  // Removing it again, or a malformed name, changes nothing and says so.
  EXPECT_EQ(blobs_.remove(sha).error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(blobs_.remove("../x").error().kind, ErrorKind::kBadInput);
}

}  // namespace
}  // namespace printrelay
