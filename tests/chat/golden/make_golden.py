#!/usr/bin/env python3
"""Renders every shared chat template with jinja2 exactly as transformers does and writes the
expected outputs (or expected errors) as JSON goldens for tests/chat/test_chat_golden.cpp.

The environment mirrors transformers.utils.chat_template_utils._compile_jinja_template:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
globals raise_exception and strftime_now, and a tojson filter calling json.dumps. render() gets
messages, tools (None when absent), documents=None, add_generation_prompt and the special tokens.
strftime_now returns a fixed date so goldens stay stable; contexts also pass date_string.

Usage: /usr/bin/python3 tests/chat/golden/make_golden.py [--shared ../shared]
(Debian's python3-jinja2 3.1.2 and jinja2 3.1.6 from pip give identical goldens.)
"""
import argparse
import json
import pathlib
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = pathlib.Path(__file__).resolve().parent
FIXED_DATE = "26 Nov 2026"


def make_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_DATE

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


GET_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and country, e.g. Paris, France"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "The temperature unit"},
            },
            "required": ["location"],
        },
    },
}

HELLO = "Hello, how are you?"
ANSWER = "I'm doing great. How can I help you today?"
FOLLOW_UP = "I'd like to show off how chat templating works!"
SYSTEM = "You are a helpful assistant."


def conversations(shared):
    convs = {
        "user": {"messages": [{"role": "user", "content": HELLO}]},
        "system_user": {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": HELLO}]},
        "user_assistant_user": {
            "messages": [
                {"role": "user", "content": HELLO},
                {"role": "assistant", "content": ANSWER},
                {"role": "user", "content": FOLLOW_UP},
            ]
        },
        "system_user_assistant_user": {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": HELLO},
                {"role": "assistant", "content": ANSWER},
                {"role": "user", "content": FOLLOW_UP},
            ]
        },
        "unicode_and_markup": {
            "messages": [
                {"role": "user", "content": "  Grüße 👋 — «quotes» \"double\" 'single' <tag> & more\n\ttab  "},
                {"role": "assistant", "content": "Ça va? ünïcödé ✓ </think> after think"},
                {"role": "user", "content": "Ελληνικά, кириллица, 中文"},
            ]
        },
        "tools_user": {
            "messages": [{"role": "user", "content": "What's the weather like in Paris today?"}],
            "tools": [GET_WEATHER],
        },
        "tool_call_round_trip": {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "What's the weather in Zürich?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call12345",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": {"location": "Zürich", "unit": "celsius"}},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "22"},
            ],
            "tools": [GET_WEATHER],
        },
    }
    samples = shared / "tokenizers" / "mistral-7b-instruct-v0.3" / "samples"
    for sample in sorted(samples.glob("*/sample.json")):
        data = json.loads(sample.read_text())
        conv = {"messages": data["messages"]}
        if data.get("tools"):
            conv["tools"] = data["tools"]
        convs["mistral_sample_" + sample.parent.name] = conv
    return convs


def templates(shared):
    """(id, path relative to shared, source, bos, eos, extra) for every template in the fixtures."""
    out = []
    defaults = ("<s>", "</s>")

    def tokens(config_path):
        if not config_path.exists():
            return defaults
        config = json.loads(config_path.read_text())
        found = []
        for key, fallback in (("bos_token", defaults[0]), ("eos_token", defaults[1])):
            value = config.get(key)
            if isinstance(value, dict):
                value = value.get("content")
            found.append(value if isinstance(value, str) else fallback)
        return tuple(found)

    for path in sorted((shared / "chat_templates").glob("*.jinja")):
        out.append((path.stem, path, path.read_text(), *defaults))
    for path in sorted((shared / "tokenizers").glob("*/*.jinja")):
        ident = path.parent.name + "--" + path.stem
        out.append((ident, path, path.read_text(), *tokens(path.parent / "tokenizer_config.json")))
    for path in sorted((shared / "tokenizers").glob("*/tokenizer_config.json")):
        template = json.loads(path.read_text()).get("chat_template")
        if isinstance(template, str):
            out.append((path.parent.name + "--tokenizer_config", path, template, *tokens(path)))
    return out


# Extra variables some templates read besides the standard ones (as callers of those models pass them).
EXTRA = {
    "fireworks-ai-llama-3-firefunction-v2": {
        "functions": json.dumps([GET_WEATHER["function"]], indent=2),
        "datetime": "2026-11-26 10:00",
    },
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=pathlib.Path, default=HERE.parents[3] / "shared")
    args = parser.parse_args()
    shared = args.shared.resolve()
    env = make_environment()
    convs = conversations(shared)
    (HERE / "conversations.json").write_text(
        json.dumps({"date_string": FIXED_DATE, "conversations": convs}, indent=1, ensure_ascii=False) + "\n")
    total = errors = 0
    for ident, path, source, bos, eos in templates(shared):
        compiled = env.from_string(source)
        extra = EXTRA.get(ident, {})
        cases = []
        for name, conv in convs.items():
            if "tools" in conv and "tools" not in source:
                continue  # the template has no tool support
            for add_generation_prompt in (False, True):
                context = {
                    "messages": conv["messages"],
                    "tools": conv.get("tools"),
                    "documents": None,
                    "add_generation_prompt": add_generation_prompt,
                    "bos_token": bos,
                    "eos_token": eos,
                    "date_string": FIXED_DATE,
                    **extra,
                }
                case = {"conversation": name, "add_generation_prompt": add_generation_prompt}
                try:
                    case["expected"] = compiled.render(**context)
                except Exception as error:  # recorded: the C++ interpreter must fail too
                    case["error"] = f"{type(error).__name__}: {error}"
                    errors += 1
                cases.append(case)
                total += 1
        golden = {
            "template": str(path.relative_to(shared)),
            "bos_token": bos,
            "eos_token": eos,
            "extra": extra,
            "cases": cases,
        }
        (HERE / f"{ident}.json").write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(f"jinja2 {jinja2.__version__}: {total} cases, {errors} expected errors", file=sys.stderr)


if __name__ == "__main__":
    main()
