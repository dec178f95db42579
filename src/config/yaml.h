// A reader for the YAML subset that training config files use (mlx-lm's lora_config.yaml and the like).
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace flotilla {

// Block mappings and sequences, flow [...] and {...}, plain and quoted scalars, comments. Plain scalars resolve
// as in PyYAML (YAML 1.1: yes/no/on/off are booleans, 017 is octal) plus mlx-lm's float resolver (1e-5 is a
// float). Anything else (anchors, tags, block scalars, ---) throws "[yaml] source:line:col: ...".
nlohmann::ordered_json parse_yaml(const std::string& text, const std::string& source);

nlohmann::ordered_json load_yaml_file(const std::string& path);

}  // namespace flotilla
