#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "daemon/fed_lab_command.h"

namespace sotto::daemon {
namespace {

TEST_CASE("every federated lab config in configs/lab loads and validates", "[daemon][config][federated]") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(SOTTO_SOURCE_DIR) + "/configs/lab")) {
    if (entry.path().extension() != ".toml" || !IsFedLabConfig(entry.path().string())) continue;
    INFO(entry.path());
    auto config = LoadFedLabConfig(entry.path().string());
    if (!config.ok()) FAIL(config.error().ToString());
    CHECK(config->fed.nodes >= 1);
    ++count;
  }
  CHECK(count >= 10);
}

TEST_CASE("federated config keys land in the options; typos and bad values are errors",
          "[daemon][config][federated]") {
  auto c = ParseFedLabConfig(R"(
[federated]
method = "q-nastya"
nodes = 8
gamma = 0.3
eta = 0.7
compressor = "dither:s=4"
participation = 0.5
code = "fr"
decoding = "group"
alpha_check = "warn"
[data]
synthetic_density = 0.1
)", "t.toml");
  REQUIRE(c.ok());
  CHECK(c->fed.method == algo::FederatedMethod::kQNastya);
  CHECK(c->fed.nodes == 8);
  CHECK(c->fed.gamma == 0.3);
  CHECK(c->fed.eta == 0.7);
  CHECK(c->fed.compressor == "dither:s=4");
  CHECK(c->fed.participation == 0.5);
  CHECK(c->fed.code == algo::GradientCodeScheme::kFractionalRepetition);
  CHECK(c->fed.decoding == algo::DecodingRule::kGroup);
  CHECK(c->fed.alpha_check == algo::AlphaCheck::kWarn);
  CHECK(c->synthetic_density == 0.1);

  auto typo = ParseFedLabConfig("[federated]\ngamm = 0.1\n", "t.toml");
  REQUIRE(!typo.ok());
  CHECK(typo.error().message().find("gamm") != std::string::npos);
  auto method = ParseFedLabConfig("[federated]\nmethod = \"diana-rrr\"\n", "t.toml");
  REQUIRE(!method.ok());
  CHECK(method.error().message().find("[federated].method") != std::string::npos);
}

}  // namespace
}  // namespace sotto::daemon
