#include "model/expert_layout.h"

#include <ATen/ATen.h>

#include <vector>

namespace flotilla::model {

namespace {

constexpr const char* kStacked = ".switch_mlp.";
constexpr const char* kPerExpert = ".experts.";

// ("<mlp>.experts.<e>.<rest>") -> ("<mlp>.switch_mlp.<rest>", e); nullopt for other names.
std::optional<std::pair<std::string, int64_t>> stacked_name_of(const std::string& name) {
  const auto at = name.find(kPerExpert);
  if (at == std::string::npos) return std::nullopt;
  const auto digits = at + std::string(kPerExpert).size();
  const auto dot = name.find('.', digits);
  if (dot == std::string::npos || dot == digits) return std::nullopt;
  const std::string number = name.substr(digits, dot - digits);
  if (number.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::pair{name.substr(0, at) + kStacked + name.substr(dot + 1), std::stoll(number)};
}

}  // namespace

std::string per_expert_name(const std::string& stacked, int64_t expert) {
  const auto at = stacked.find(kStacked);
  return stacked.substr(0, at) + kPerExpert + std::to_string(expert) + "." + stacked.substr(at + std::string(kStacked).size());
}

std::optional<std::pair<std::string, at::Tensor>> read_stacking_experts(
    const std::string& name, int64_t experts, const std::function<at::Tensor(const std::string&)>& get) {
  const auto stacked = experts > 0 ? stacked_name_of(name) : std::nullopt;
  if (!stacked) return std::pair{name, get(name)};
  if (stacked->second != 0) return std::nullopt;
  std::vector<at::Tensor> each;
  for (int64_t e = 0; e < experts; ++e) each.push_back(get(per_expert_name(stacked->first, e)));
  return std::pair{stacked->first, at::stack(each)};
}

}  // namespace flotilla::model
