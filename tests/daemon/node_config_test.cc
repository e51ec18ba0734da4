#include <string>

#include <catch2/catch.hpp>

#include "daemon/node_config.h"

namespace sotto::daemon {
namespace {

TEST_CASE("every node config in configs/ loads", "[daemon][config]") {
  for (const char* f : {"/configs/node.toml", "/configs/mesh-local.toml"}) {
    auto c = LoadNodeConfig(std::string(SOTTO_SOURCE_DIR) + f);
    INFO(f);
    if (!c.ok()) FAIL(c.error().ToString());
  }
}

TEST_CASE("node config flags and validation", "[daemon][config]") {
  auto c = ParseNodeConfig("[node]\njoin = \"tcp://a:1, tcp://b:2\"\n", "n.toml", {{"gossip.rounds", "50"}});
  REQUIRE(c.ok());
  CHECK(c->join == std::vector<std::string>{"tcp://a:1", "tcp://b:2"});
  CHECK(c->rounds == 50);
  auto error = [](const char* text) { return ParseNodeConfig(text, "n.toml").error().message(); };
  CHECK(error("[node]\nlisten = \"udp://x\"\n") == "n.toml: [node].listen: want tcp://HOST:PORT, got 'udp://x'");
  CHECK(error("[gossip]\nshard = 3\nshards = 2\n") == "n.toml: [gossip].shard: want 0 <= shard < shards, got shard 3 of 2");
  CHECK(error("[membership]\nprobe_timeout_ms = 2000\n") == "n.toml: [membership].probe_timeout_ms: must be in [1, probe_interval_ms)");
  CHECK(error("[node]\nlog_level = \"loud\"\n").find("[node].log_level") != std::string::npos);
  CHECK(error("[gossip]\nround = 3\n") == "n.toml: unknown key(s): [gossip].round");
  CHECK(NodeConfigKeys().size() > 40);
}

}  // namespace
}  // namespace sotto::daemon
