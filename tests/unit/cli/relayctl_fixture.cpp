#include "relayctl_fixture.h"

#include <fstream>
#include <iterator>
#include <sstream>

#include "cli/signing_keys.h"

namespace printrelay::cli {

Env unreachable_relay_env() {
  return {{"PRINTRELAY_URL", "http://127.0.0.1:1"}, {"PRINTRELAY_TOKEN", "t"}};
}

Run run(std::vector<const char*> args, const Env& env, const std::string& stdin_text) {
  std::ostringstream out, err;
  std::istringstream in(stdin_text);
  args.insert(args.begin(), "relayctl");
  Console console{out, err,
                  [env](const char* name) -> std::optional<std::string> {
                    auto it = env.find(name);
                    if (it == env.end()) return std::nullopt;
                    return it->second;
                  },
                  [] { return kNow; }, &in};
  int rc = run_relayctl(int(args.size()), args.data(), console);
  return {rc, out.str(), err.str()};
}

std::string text_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void RelayctlFixture::SetUp() {
  ASSERT_TRUE(create_key_files(keys_dir_, key_name_));
  relay_.emplace([this](const testing::FakeRequest& req) { return answer(req); });
}

Env RelayctlFixture::env() const {
  return {{"PRINTRELAY_URL", relay_->url()},
          {"PRINTRELAY_TOKEN", "at_admin"},
          {"PRINTRELAY_KEYS_DIR", keys_dir_}};
}

std::string RelayctlFixture::public_pem() const {
  return text_of(std::filesystem::path(keys_dir_) / (key_name_ + ".pub"));
}

std::vector<testing::FakeRequest> RelayctlFixture::requests(std::size_t n) const {
  relay_->wait_for([n](const auto& r) { return r.size() >= n; });
  return relay_->requests();
}

}  // namespace printrelay::cli
