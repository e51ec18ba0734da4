#include "topology/edge_list.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <system_error>
#include <vector>

namespace sotto::topology {
namespace {

// Splits a line into tokens at blanks and ','; a single token "A-B" is split at its
// dash (a leading '-' stays, so "-1" is reported as a bad index, not read as 1).
std::vector<std::string_view> Tokens(std::string_view line) {
  std::vector<std::string_view> tokens;
  const auto is_sep = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == ','; };
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_sep(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_sep(line[i])) ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
  if (tokens.size() == 1) {
    const std::size_t dash = tokens[0].find('-', 1);
    if (dash != std::string_view::npos) {
      const std::string_view both = tokens[0];
      tokens = {both.substr(0, dash), both.substr(dash + 1)};
    }
  }
  return tokens;
}

bool ParseIndex(std::string_view token, int& out) {
  const char* end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, out);
  return ec == std::errc() && ptr == end && out >= 0;
}

std::string EdgeText(int a, int b) { return std::to_string(a) + "-" + std::to_string(b); }

}  // namespace

Result<Graph> GraphFromEdges(int num_nodes, std::span<const std::pair<int, int>> edges) {
  if (num_nodes < 1) return InvalidArgument("edge list: need at least 1 node");
  Graph g(num_nodes);
  for (const auto& [a, b] : edges) {
    if (a < 0 || b < 0 || a >= num_nodes || b >= num_nodes) {
      return InvalidArgument("edge " + EdgeText(a, b) + ": node outside 0.." +
                             std::to_string(num_nodes - 1));
    }
    if (a == b) return InvalidArgument("edge " + EdgeText(a, b) + ": self loop");
    g.AddEdge(a, b);
  }
  // Name a node that cannot be reached, so the user knows where to look.
  const std::vector<bool> reached = g.ReachableFrom(0);
  const auto lost = std::find(reached.begin(), reached.end(), false);
  if (lost != reached.end()) {
    return InvalidArgument("edge list: graph of " + std::to_string(num_nodes) +
                           " nodes is not connected (node " +
                           std::to_string(lost - reached.begin()) + " cannot reach node 0)");
  }
  return g;
}

Result<Graph> ParseEdgeList(std::string_view text, int num_nodes) {
  if (num_nodes < 0) return InvalidArgument("edge list: negative node count");
  std::vector<std::pair<int, int>> edges;
  int declared = 0;
  int line_number = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const std::vector<std::string_view> tokens = Tokens(line);
    const std::string where = "edge list line " + std::to_string(line_number) + ": ";
    if (tokens.empty()) continue;
    if (tokens[0] == "nodes") {
      if (tokens.size() != 2 || !ParseIndex(tokens[1], declared) || declared < 1) {
        return InvalidArgument(where + "want \"nodes N\" with N >= 1");
      }
      if (!edges.empty())
        return InvalidArgument(where + "\"nodes\" must come before the first edge");
      if (num_nodes > 0 && declared != num_nodes) {
        return InvalidArgument(where + "file says " + std::to_string(declared) +
                               " nodes, the caller expects " + std::to_string(num_nodes));
      }
      continue;
    }
    int a = 0, b = 0;
    if (tokens.size() != 2 || !ParseIndex(tokens[0], a) || !ParseIndex(tokens[1], b)) {
      return InvalidArgument(where + "expected two node indices, got \"" +
                             std::string(line.substr(0, line.find_last_not_of(" \t\r") + 1)) +
                             "\"");
    }
    if (a == b) return InvalidArgument(where + "self loop " + EdgeText(a, b));
    const int limit = num_nodes > 0 ? num_nodes : declared;
    if (limit > 0 && (a >= limit || b >= limit)) {
      return InvalidArgument(where + "edge " + EdgeText(a, b) + " names a node outside 0.." +
                             std::to_string(limit - 1));
    }
    edges.emplace_back(a, b);
  }
  int n = num_nodes > 0 ? num_nodes : declared;
  if (n == 0) {
    if (edges.empty()) return InvalidArgument("edge list: no edges and no \"nodes N\" line");
    for (const auto& [a, b] : edges) n = std::max(n, std::max(a, b) + 1);
  }
  return GraphFromEdges(n, edges);
}

}  // namespace sotto::topology
