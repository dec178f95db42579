// Reads training config files (mlx-lm's lora_config.yaml and the like): yaml-cpp parses, PyYAML's rules resolve.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace flotilla::config {

// One YAML document (anchors, aliases, "<<" merges, block scalars and flow collections included). Plain scalars
// resolve as in PyYAML (YAML 1.1: yes/no/on/off are booleans, 017 is octal) plus mlx-lm's float resolver (1e-5 is a
// float); keys stay strings as written. Errors throw "[yaml] source:line:col: ...".
nlohmann::ordered_json parse_yaml(const std::string& text, const std::string& source);

nlohmann::ordered_json load_yaml_file(const std::string& path);

}  // namespace flotilla::config
