#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "daemon/lab_config.h"

namespace sotto::daemon {
namespace {

TEST_CASE("every lab config in configs/lab loads and validates", "[daemon][config]") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(SOTTO_SOURCE_DIR) + "/configs/lab")) {
    if (entry.path().extension() != ".toml") continue;
    // fed-*.toml are aggregator experiments with their own schema and test.
    if (entry.path().filename().string().starts_with("fed-")) continue;
    INFO(entry.path());
    auto config = LoadLabConfig(entry.path().string());
    if (!config.ok()) FAIL(config.error().ToString());
    CHECK(config->lab.nodes >= 1);
    ++count;
  }
  CHECK(count >= 1);
}

TEST_CASE("lab config keys land in the options", "[daemon][config]") {
  auto c = ParseLabConfig(R"(
[lab]
nodes = 5
topology = "torus"
[algorithm]
name = "choco"
lr = 0.05
compressor = "topk:0.01"
prox_order = "after"
lr_schedule = "inverse-sqrt"
[model]
kind = "mlp"
)", "test.toml");
  REQUIRE(c.ok());
  CHECK(c->lab.nodes == 5);
  CHECK(c->lab.topology == "torus");
  CHECK(c->lab.gossip.algorithm == "choco");
  CHECK(c->lab.gossip.learning_rate == 0.05);
  CHECK(c->lab.gossip.compressor == "topk:0.01");
  CHECK(c->lab.gossip.prox_order == algo::ProxOrder::kAfterCompression);
  CHECK(c->lab.gossip.schedule == algo::LearningRateSchedule::kInverseSqrt);
  CHECK(c->lab.model == "mlp");
}

TEST_CASE("bad lab configs name the key and what was wrong", "[daemon][config]") {
  auto error = [](const char* text) { return ParseLabConfig(text, "bad.toml").error().ToString(); };
  CHECK(error("[lab]\nnodez = 4\n") == "INVALID_ARGUMENT: bad.toml: unknown key(s): [lab].nodez");
  CHECK(error("[labb]\nnodes = 4\n") == "INVALID_ARGUMENT: bad.toml: unknown key(s): [labb]");
  CHECK(error("[lab]\nnodes = \"four\"\n") == "INVALID_ARGUMENT: bad.toml: [lab].nodes: want an integer, got string");
  CHECK(error("[algorithm]\nlr = true\n") == "INVALID_ARGUMENT: bad.toml: [algorithm].lr: want a number, got boolean");
  CHECK(error("[algorithm]\nsampler = \"sometimes\"\n").find("[algorithm].sampler: unknown sampler 'sometimes'") != std::string::npos);
  CHECK(error("[data]\nsource = \"mnist\"\n").find("[data].source") != std::string::npos);
  CHECK(error("[lab\nnodes = 4\n").find("bad.toml:1:") != std::string::npos);  // Parse error with position.
  CHECK(LoadLabConfig("/nonexistent/x.toml").error().code() == StatusCode::kNotFound);
}

TEST_CASE("flags override the file by the key's type", "[daemon][config]") {
  auto c = ParseLabConfig("[lab]\nnodes = 4\n", "f.toml",
                          {{"lab.nodes", "6"}, {"algorithm.lr", "0.3"}, {"algorithm.name", "choco"},
                           {"lab.eval_nodes", "true"}});
  REQUIRE(c.ok());
  CHECK(c->lab.nodes == 6);
  CHECK(c->lab.gossip.learning_rate == 0.3);
  CHECK(c->lab.gossip.algorithm == "choco");
  CHECK(c->lab.eval_nodes);
  CHECK(ParseLabConfig("", "f", {{"lab.nodes", "six"}}).error().message() == "--lab.nodes: cannot parse 'six' as integer");
  CHECK(ParseLabConfig("", "f", {{"lab.nodes", "1.5"}}).error().message() == "--lab.nodes: want an integer, got '1.5'");
  CHECK(ParseLabConfig("", "f", {{"lab.nodez", "3"}}).error().message() == "unknown flag --lab.nodez");
  const auto keys = LabConfigKeys();
  CHECK(keys.size() > 30);
  CHECK(keys.front().section == "lab");
  CHECK(keys.front().key == "nodes");
  CHECK(keys.front().type == "integer");
}

}  // namespace
}  // namespace sotto::daemon
