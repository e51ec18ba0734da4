// The configuration reference: comments are read from the examples, every key of
// the code's tables is documented, and docs/config-reference.md is current.

#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "daemon/config_reference.h"
#include "daemon/lab_config.h"
#include "daemon/node_config.h"

namespace sotto::daemon {
namespace {

TEST_CASE("example comments are read per key, with continuation lines", "[daemon][config]") {
  const auto c = ExampleComments(
      "# header comment\n"
      "[node]\n"
      "listen = \"tcp://h:1#x\"   # where to bind\n"
      "                         # (the # inside the string is not a comment)\n"
      "seed = 1\n"
      "# a free-standing comment is not a continuation\n"
      "[gossip]                   # section comment\n"
      "rounds = 5                 # how many\n");
  CHECK(c.at("node.listen") == "where to bind (the # inside the string is not a comment)");
  CHECK(c.count("node.seed") == 0);
  CHECK(c.at("gossip.rounds") == "how many");
  CHECK(c.size() == 2);
}

TEST_CASE("every config key is documented by its example", "[daemon][config]") {
  std::ifstream node(std::string(SOTTO_SOURCE_DIR) + "/configs/node.toml");
  std::ifstream lab(std::string(SOTTO_SOURCE_DIR) + "/configs/lab/quickstart.toml");
  std::stringstream n, l;
  n << node.rdbuf();
  l << lab.rdbuf();
  const auto node_comments = ExampleComments(n.str());
  const auto lab_comments = ExampleComments(l.str());
  for (const auto& k : NodeConfigKeys()) {
    INFO("configs/node.toml lacks a comment for [" << k.section << "]." << k.key);
    CHECK(node_comments.count(k.section + "." + k.key) == 1);
  }
  for (const auto& k : LabConfigKeys()) {
    INFO("configs/lab/quickstart.toml lacks a comment for [" << k.section << "]." << k.key);
    CHECK(lab_comments.count(k.section + "." + k.key) == 1);
  }
}

TEST_CASE("docs/config-reference.md is what sotto config-reference prints", "[daemon][config]") {
  const auto md = BuildConfigReference(SOTTO_SOURCE_DIR);
  REQUIRE(md.ok());
  std::ifstream f(std::string(SOTTO_SOURCE_DIR) + "/docs/config-reference.md");
  std::stringstream committed;
  committed << f.rdbuf();
  INFO("stale: regenerate with  build/release/sotto config-reference > docs/config-reference.md");
  CHECK(committed.str() == *md);
  CHECK(md->find("| `--node.listen` | string | `\"tcp://127.0.0.1:*\"` |") != std::string::npos);
  CHECK(md->find("(undocumented)") == std::string::npos);
}

}  // namespace
}  // namespace sotto::daemon
