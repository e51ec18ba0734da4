#include "daemon/node_config.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

namespace sotto::daemon {
namespace {

TEST_CASE("every node config in configs/ loads", "[daemon][config]") {
  for (const char* f : {"/configs/node.toml", "/configs/mesh-local.toml"}) {
    auto c = LoadNodeConfig(std::string(SOTTO_SOURCE_DIR) + f);
    INFO(f);
    if (!c.ok()) FAIL(c.error().ToString());
  }
}

TEST_CASE("non-ASCII outside strings and comments is refused before toml++ sees it",
          "[daemon][config]") {
  auto error = [](const std::string& text) {
    auto c = ParseNodeConfig(text, "n.toml");
    return c.ok() ? std::string() : c.error().message();
  };
  // Debian's toml++ reaches __builtin_unreachable() on these after a key (found by fuzzing).
  CHECK(
      error("[node]\nlog_level\xC3\xA9 = \"info\"\n").find("n.toml:2:10: a non-ASCII character") ==
      0);
  CHECK(error("[node\xEF\xB0\x80]\n").find("n.toml:1:6: a non-ASCII character") == 0);
  CHECK(error("\xE2\xB1\xA0 = 1\n").find("n.toml:1:1:") == 0);
  // Anywhere TOML allows UTF-8 it stays allowed.
  CHECK(error("# caf\xC3\xA9 \xEF\xB0\x80\n[node]\nlog_level = \"info\" # \xC3\xA9\n").empty());
  CHECK(error("[node]\ndata_dir = \"/tmp/jos\xC3\xA9 \\\" \xC3\xA9\"\n").empty());
  CHECK(error("[node]\ndata_dir = '/tmp/jos\xC3\xA9'\n").empty());
  CHECK(error("[node]\ndata_dir = \"\"\"/tmp/\n\"\"\"\n").empty());
  // ... except in multi-line basic strings, where toml++ tests characters for blanks too.
  CHECK(error("[node]\ndata_dir = \"\"\"/tmp/\xC3\xA9\n\"\"\"\n")
            .find("n.toml:2:20: a non-ASCII character in a multi-line") == 0);
  CHECK(error("[node]\ndata_dir = '''\xC3\xA9\n''''\n").find("non-ASCII") == std::string::npos);
  CHECK(error("[node]\n\"log_\xC3\xA9\" = \"info\"\n").find("non-ASCII") ==
        std::string::npos);  // A quoted key.
  // A quote inside a bare value does not open a string, for toml++ neither (fuzzer reproducers).
  CHECK(error("l_ms = 8pro'orc\xCC\xB5#8ct\"s").find("n.toml:1:16: a non-ASCII") == 0);
  CHECK(error("c =0\"to \xC6\xBF\"").find("a non-ASCII character") != std::string::npos);
  CHECK(error("_i= 2[[['[[ \xEF\xB9\xBF on").find("a non-ASCII character") != std::string::npos);
  CHECK(error("e= -='@\xD1\x96velv").find("a non-ASCII character") != std::string::npos);
  CHECK(error("[node]\nx = {a=1,b=\"\xC3\xA9\"}\n").find("non-ASCII") == std::string::npos);
  CHECK(error("a = [\"\xC3\xA9\", '\xC3\xA9',\n  \"\xC3\xA9\"]\nb = {x = \"\xC3\xA9\"}\n")
            .find("non-ASCII") == std::string::npos);
}

TEST_CASE("node config flags and validation", "[daemon][config]") {
  auto c = ParseNodeConfig("[node]\njoin = \"tcp://a:1, tcp://b:2\"\n", "n.toml",
                           {{"gossip.rounds", "50"}});
  REQUIRE(c.ok());
  CHECK(c->join == std::vector<std::string>{"tcp://a:1", "tcp://b:2"});
  CHECK(c->rounds == 50);
  auto error = [](const char* text) { return ParseNodeConfig(text, "n.toml").error().message(); };
  CHECK(error("[node]\nlisten = \"udp://x\"\n") ==
        "n.toml: [node].listen: want tcp://HOST:PORT, got 'udp://x'");
  CHECK(error("[gossip]\nshard = 3\nshards = 2\n") ==
        "n.toml: [gossip].shard: want 0 <= shard < shards, got shard 3 of 2");
  CHECK(error("[membership]\nprobe_timeout_ms = 2000\n") ==
        "n.toml: [membership].probe_timeout_ms: must be in [1, probe_interval_ms)");
  CHECK(error("[node]\nlog_level = \"loud\"\n").find("[node].log_level") != std::string::npos);
  CHECK(error("[gossip]\nround = 3\n") == "n.toml: unknown key(s): [gossip].round");
  CHECK(NodeConfigKeys().size() > 40);
}

TEST_CASE("the [discovery] section is read, validated and turned into beacon options",
          "[daemon][config][discovery]") {
  auto c = ParseNodeConfig("[node]\nlisten = \"tcp://10.9.0.1:7000\"\n[gossip]\nmin_members = 3\n",
                           "n.toml",
                           {{"discovery.enabled", "true"},
                            {"discovery.broadcast", "10.9.0.255, 10.9.1.255"},
                            {"discovery.secret", "0123456789abcdef"}});
  REQUIRE(c.ok());
  CHECK(c->discovery.enabled);
  CHECK(c->discovery.port == 7947);
  CHECK(c->discovery.broadcast == std::vector<std::string>{"10.9.0.255", "10.9.1.255"});
  auto o = MakeDiscoveryOptions(*c, 5);
  REQUIRE(o.ok());
  CHECK(o->secret == "0123456789abcdef");
  CHECK(o->min_peers == 2);  // Beacon fast until the two others we wait for were heard.
  CHECK(o->rng_seed == 5);
  auto error = [](const char* text) { return ParseNodeConfig(text, "n.toml").error().message(); };
  CHECK(error("[discovery]\nenabled = true\n[node]\nlisten = \"tcp://0.0.0.0:7000\"\n")
            .find("[node].advertise") != std::string::npos);
  CHECK(error("[discovery]\nbroadcast = \"10.0.0.256\"\n").find("not an IPv4 address") !=
        std::string::npos);
  CHECK(error("[discovery]\nport = 70000\n") == "n.toml: [discovery].port: want 1-65535");
  CHECK(error("[discovery]\nsecret = \"short\"\n").find("at least 16") != std::string::npos);
  CHECK(
      error("[discovery]\nsecret = \"0123456789abcdef\"\nsecret_file = \"f\"\n").find("not both") !=
      std::string::npos);
  CHECK(error("[discovery]\nmesh = \"two words\"\n").find("[discovery]") != std::string::npos);

  SECTION("secret_file must exist, be owner-only and hold a long enough secret") {
    const std::string path = std::string(SOTTO_BINARY_DIR) + "/discovery_secret_test.txt";
    auto with_file = ParseNodeConfig("", "n.toml", {{"discovery.secret_file", path}});
    REQUIRE(with_file.ok());
    std::remove(path.c_str());
    CHECK(MakeDiscoveryOptions(*with_file, 1).error().code() == StatusCode::kNotFound);
    std::ofstream(path) << "a mesh secret of some length\n";
    ::chmod(path.c_str(), 0644);
    CHECK(MakeDiscoveryOptions(*with_file, 1).error().message().find("chmod 600") !=
          std::string::npos);
    ::chmod(path.c_str(), 0600);
    auto read = MakeDiscoveryOptions(*with_file, 1);
    REQUIRE(read.ok());
    CHECK(read->secret == "a mesh secret of some length");  // Trailing newline dropped.
    std::ofstream(path) << "short\n";
    CHECK(MakeDiscoveryOptions(*with_file, 1).error().code() == StatusCode::kInvalidArgument);
    std::remove(path.c_str());
  }
}

TEST_CASE("adaptive compression: top-k fraction in specs, control law, config checks",
          "[daemon][config]") {
  CHECK(TopKFraction("chain:topk:0.01+dither:s=4") == 0.01);
  CHECK(TopKFraction("topk:0.5;coder=fp32") == 0.5);
  CHECK_FALSE(TopKFraction("topk:k=100").has_value());
  CHECK_FALSE(TopKFraction("dither:s=16").has_value());
  CHECK_FALSE(TopKFraction("topk:1.5").has_value());
  CHECK(WithTopKFraction("chain:topk:0.01+dither:s=4", 0.0375) == "chain:topk:0.0375+dither:s=4");
  CHECK(WithTopKFraction("topk:0.01;coder=rans", 0.2) == "topk:0.2;coder=rans");
  // Links that deliver well within the target: grow by 1.25x (slow start); slower:
  // shrink by the ratio, at most 2x, and remember where; close to the target
  // (0.8 < ratio < 1.25): stay.
  const double inf = std::numeric_limits<double>::infinity();
  double th = inf;
  CHECK(NextAdaptiveDensity(0.01, 1.0, 100.0, 0.001, 0.25, 0.001, &th) == Approx(0.0125));
  CHECK(NextAdaptiveDensity(0.01, 0.0, 100.0, 0.001, 0.25, 0.001, &th) ==
        Approx(0.0125));  // No excess at all.
  CHECK(th == inf);
  CHECK(NextAdaptiveDensity(0.01, 4.5, 4.0, 0.001, 0.25, 0.001, &th) == 0.01);  // Dead band.
  CHECK(NextAdaptiveDensity(0.01, 3.5, 4.0, 0.001, 0.25, 0.001, &th) == 0.01);
  CHECK(th == inf);
  CHECK(NextAdaptiveDensity(0.01, 16.0, 4.0, 0.001, 0.25, 0.001, &th) == Approx(0.005));
  CHECK(th == Approx(0.005));
  th = inf;
  CHECK(NextAdaptiveDensity(0.01, 6.0, 4.0, 0.001, 0.25, 0.001, &th) == Approx(0.01 * 4.0 / 6.0));
  CHECK(th == Approx(0.01 * 4.0 / 6.0));
  // At or above the threshold: additive growth; to twice it: slow start again.
  th = 0.01;
  CHECK(NextAdaptiveDensity(0.01, 3.0, 4.0, 0.001, 0.25, 0.002, &th) == Approx(0.012));
  CHECK(NextAdaptiveDensity(0.019, 1.0, 4.0, 0.001, 0.25, 0.002, &th) == Approx(0.021));
  CHECK(th == inf);
  th = 0.011;  // Slow start stops at the threshold.
  CHECK(NextAdaptiveDensity(0.01, 1.0, 4.0, 0.001, 0.25, 0.002, &th) == Approx(0.011));
  th = inf;
  CHECK(NextAdaptiveDensity(0.24, 1.0, 100.0, 0.001, 0.25, 0.001, &th) ==
        0.25);  // Clamped to max ...
  CHECK(NextAdaptiveDensity(0.0011, 100.0, 1.0, 0.001, 0.25, 0.001, &th) ==
        0.001);  // ... and to min.
  // Two nodes sharing a link that saturates when their fractions sum past 0.02:
  // growing by a factor keeps their 4x difference; additive growth with
  // multiplicative decrease brings them together.
  for (const bool aimd : {false, true}) {
    double f[2] = {0.002, 0.008}, t[2] = {inf, inf};
    for (int step = 0; step < 400; ++step) {
      const double excess = f[0] + f[1] > 0.02 ? 40.0 : 1.0;  // A queue, or none.
      for (int k = 0; k < 2; ++k) {
        if (!aimd) t[k] = inf;  // Never leaves slow start: growth by a factor only.
        f[k] = NextAdaptiveDensity(f[k], excess, 10.0, 0.001, 0.25, 0.0005, &t[k]);
      }
    }
    INFO((aimd ? "AIMD " : "MIMD ") << f[0] << " " << f[1]);
    if (aimd) {
      CHECK(std::max(f[0], f[1]) / std::min(f[0], f[1]) < 1.5);
    } else {
      CHECK(std::max(f[0], f[1]) / std::min(f[0], f[1]) > 3.0);
    }
  }
  CHECK(AdaptiveTargetMs(200, 3.0, 50.0) == 200.0);  // Configured.
  CHECK(AdaptiveTargetMs(0, 1.8, 10.0) == 5.0);      // Half the round ...
  CHECK(AdaptiveTargetMs(0, 8.0, 10.0) == 8.0);      // ... at least the step ...
  CHECK(AdaptiveTargetMs(0, 0.1, 0.5) == 1.0);       // ... and 1 ms.
  auto error = [](const ConfigOverrides& o) {
    auto c = ParseNodeConfig("", "n.toml", o);
    return c.ok() ? std::string() : c.error().message();
  };
  CHECK(error({{"gossip.adaptive", "true"}, {"algorithm.compressor", "chain:topk:0.01+dither:s=4"}})
            .empty());
  CHECK(error({{"gossip.adaptive", "true"}, {"algorithm.compressor", "dither:s=16"}})
            .find("top-k fraction") != std::string::npos);
  CHECK(error({{"gossip.adaptive", "true"}, {"algorithm.name", "dpsgd"}}).find("choco or malcom") !=
        std::string::npos);
  CHECK(error({{"gossip.adaptive", "true"},
               {"algorithm.compressor", "topk:0.01"},
               {"gossip.adaptive_min_density", "0.5"}})
            .find("adaptive_min_density") != std::string::npos);
  CHECK(error({{"gossip.adaptive", "true"},
               {"algorithm.compressor", "topk:0.01"},
               {"gossip.adaptive_step_exponent", "-0.5"}})
            .find("adaptive_step_exponent") != std::string::npos);
  CHECK(error({{"gossip.adaptive", "true"},
               {"algorithm.compressor", "topk:0.01"},
               {"gossip.adaptive_max_step", "2"}})
            .find("adaptive_max_step") != std::string::npos);
  auto c = ParseNodeConfig("", "n.toml",
                           {{"gossip.adaptive", "true"},
                            {"algorithm.compressor", "topk:0.01"},
                            {"gossip.adaptive_step_exponent", "0.5"},
                            {"gossip.adaptive_max_step", "0.4"}});
  REQUIRE(c.ok());
  CHECK(c.value().training.gossip.consensus_step_exponent ==
        0.5);  // Handed to the algorithm's SetCompressor.
  CHECK(c.value().training.gossip.consensus_step_max == 0.4);
}

}  // namespace
}  // namespace sotto::daemon
