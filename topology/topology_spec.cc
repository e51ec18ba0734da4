#include "topology/topology_spec.h"

#include <charconv>
#include <cmath>
#include <sstream>
#include <system_error>

namespace sotto::topology {
namespace {

std::string_view Trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Splits on `sep`, trimming each piece.
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = s.find(sep, start);
    parts.push_back(Trim(s.substr(start, end == std::string_view::npos ? end : end - start)));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

template <typename T>
bool ParseNumber(std::string_view text, T& out) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

Status SpecError(std::string_view text, const std::string& why) {
  return InvalidArgument("topology \"" + std::string(text) + "\": " + why);
}

Result<std::vector<std::pair<int, int>>> ParseInlineEdges(std::string_view text,
                                                          std::string_view body) {
  std::vector<std::pair<int, int>> edges;
  if (Trim(body).empty()) return SpecError(text, "empty edge list (write edges:0-1,1-2)");
  for (std::string_view item : Split(body, ',')) {
    const std::size_t dash = item.find('-');
    int a = 0, b = 0;
    if (dash == std::string_view::npos || !ParseNumber(Trim(item.substr(0, dash)), a) ||
        !ParseNumber(Trim(item.substr(dash + 1)), b)) {
      return SpecError(text, "bad edge \"" + std::string(item) + "\" (want A-B, e.g. 0-1)");
    }
    if (a < 0 || b < 0)
      return SpecError(text, "negative node in edge \"" + std::string(item) + "\"");
    edges.emplace_back(a, b);
  }
  return edges;
}

}  // namespace

const char* TopologyFamilyNames() {
  return "ring, torus, hypercube, exp, regular:d=K, erdos:p=P, complete, star, edges:A-B,...";
}

Result<TopologySpec> ParseTopologySpec(std::string_view text) {
  const std::string_view trimmed = Trim(text);
  const std::size_t colon = trimmed.find(':');
  const std::string_view name = Trim(trimmed.substr(0, colon));
  const std::string_view params =
      colon == std::string_view::npos ? std::string_view() : trimmed.substr(colon + 1);
  TopologySpec spec;
  if (name.empty())
    return SpecError(text, std::string("empty name; want one of ") + TopologyFamilyNames());
  if (name == "edges") {
    spec.family = TopologyFamily::kEdgeList;
    SOTTO_ASSIGN_OR_RETURN(spec.edges, ParseInlineEdges(text, params));
    return spec;
  }
  if (name == "ring")
    spec.family = TopologyFamily::kRing;
  else if (name == "torus")
    spec.family = TopologyFamily::kTorus;
  else if (name == "hypercube")
    spec.family = TopologyFamily::kHypercube;
  else if (name == "exp" || name == "exponential")
    spec.family = TopologyFamily::kExponential;
  else if (name == "regular")
    spec.family = TopologyFamily::kRegular;
  else if (name == "erdos" || name == "erdos-renyi")
    spec.family = TopologyFamily::kErdosRenyi;
  else if (name == "complete")
    spec.family = TopologyFamily::kComplete;
  else if (name == "star")
    spec.family = TopologyFamily::kStar;
  else
    return SpecError(
        text, "unknown family \"" + std::string(name) + "\"; want one of " + TopologyFamilyNames());

  bool has_d = false, has_p = false;
  if (colon != std::string_view::npos) {
    if (Trim(params).empty()) return SpecError(text, "nothing after ':'");
    for (std::string_view item : Split(params, ',')) {
      const std::size_t eq = item.find('=');
      if (eq == std::string_view::npos) {
        return SpecError(text, "parameter \"" + std::string(item) + "\" is not KEY=VALUE");
      }
      const std::string_view key = Trim(item.substr(0, eq));
      const std::string_view value = Trim(item.substr(eq + 1));
      const std::string where = "parameter " + std::string(key) + "=" + std::string(value);
      if (spec.family == TopologyFamily::kRegular && key == "d") {
        if (!ParseNumber(value, spec.degree) || spec.degree < 1) {
          return SpecError(text, where + ": d must be an integer >= 1");
        }
        has_d = true;
      } else if (spec.family == TopologyFamily::kErdosRenyi && key == "p") {
        if (!ParseNumber(value, spec.probability) || !(spec.probability > 0.0) ||
            spec.probability > 1.0) {
          return SpecError(text, where + ": p must be a number in (0, 1]");
        }
        has_p = true;
      } else if (spec.family == TopologyFamily::kTorus && (key == "r" || key == "c")) {
        int& target = key == "r" ? spec.rows : spec.cols;
        if (!ParseNumber(value, target) || target < 3) {
          return SpecError(text, where + ": torus sides must be integers >= 3");
        }
      } else {
        return SpecError(text,
                         "unknown parameter \"" + std::string(key) + "\" for " + std::string(name));
      }
    }
  }
  if (spec.family == TopologyFamily::kRegular && !has_d) {
    return SpecError(text, "missing degree (write regular:d=4)");
  }
  if (spec.family == TopologyFamily::kErdosRenyi && !has_p) {
    return SpecError(text, "missing edge probability (write erdos:p=0.1)");
  }
  if (spec.family == TopologyFamily::kTorus && (spec.rows == 0) != (spec.cols == 0)) {
    return SpecError(text, "give both sides or neither (write torus:r=4,c=8)");
  }
  return spec;
}

std::string ToString(const TopologySpec& spec) {
  std::ostringstream out;
  switch (spec.family) {
    case TopologyFamily::kRing:
      return "ring";
    case TopologyFamily::kTorus:
      if (spec.rows == 0) return "torus";
      out << "torus:r=" << spec.rows << ",c=" << spec.cols;
      return out.str();
    case TopologyFamily::kHypercube:
      return "hypercube";
    case TopologyFamily::kExponential:
      return "exp";
    case TopologyFamily::kRegular:
      out << "regular:d=" << spec.degree;
      return out.str();
    case TopologyFamily::kErdosRenyi: {
      // Shortest text that reads back to the same double ("0.1", not "0.10000000000000001").
      char buffer[32];
      const auto result = std::to_chars(buffer, buffer + sizeof(buffer), spec.probability);
      return "erdos:p=" + std::string(buffer, result.ptr);
    }
    case TopologyFamily::kComplete:
      return "complete";
    case TopologyFamily::kStar:
      return "star";
    case TopologyFamily::kEdgeList:
      out << "edges:";
      for (std::size_t k = 0; k < spec.edges.size(); ++k) {
        out << (k ? "," : "") << spec.edges[k].first << "-" << spec.edges[k].second;
      }
      return out.str();
  }
  return "?";
}

}  // namespace sotto::topology
