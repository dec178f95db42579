// The pirate translator on worked examples, its score, and the Dolly generator feeding prepare.
#include <gtest/gtest.h>

#include <set>

#include "data/dataset.h"
#include "tutorial/pirate.h"
#include "flotilla/prepare.h"
#include "data/data_test_util.h"
#include "support/paths.h"

using namespace flotilla::data;

namespace flotilla {
namespace {

using tutorial::PirateOptions;
using tutorial::pirate_score;
using tutorial::to_pirate;

const PirateOptions kNoInterjections{/*seed=*/0, /*interjection_rate=*/0.0};

TEST(Pirate, TranslatesWordsKeepingCaseAndPunctuation) {
  struct Case {
    const char* english;
    const char* pirate;
  };
  const Case cases[] = {
      {"Hello, my friend! The boy is playing with your money.", "Ahoy, me matey! Th' lad be playin' with yer doubloons."},
      {"HELLO there. Yes, you're right: stop!", "AHOY there. Aye, ye be right: avast!"},
      {"The king sang a song about a thing in the morning.", "Th' king sang a shanty about a thing in th' mornin'."},
      {"Are you bringing food and drink for the captain?", "Be ye bringin' grub an' grog fer th' cap'n?"},
      {"\"Look at the sea,\" said the girl.\nShe isn't happy.", "\"Look at th' briny deep,\" said th' lass.\nShe ain't jolly."},
      {"Everyone loved the stories of treasure.", "All hands loved th' yarns o' booty."},
      {"", ""},
      {"123 -- ...", "123 -- ..."},
  };
  for (const auto& c : cases) EXPECT_EQ(to_pirate(c.english, kNoInterjections), c.pirate) << c.english;
}

TEST(Pirate, InterjectionsAreSeeded) {
  const std::string story = "Once upon a time there was a ship. It sailed far. The crew sang. They found gold. The end.";
  const PirateOptions a{/*seed=*/1, /*interjection_rate=*/0.5};
  EXPECT_EQ(to_pirate(story, a), to_pirate(story, a));
  std::set<std::string> variants;
  for (uint64_t seed = 0; seed < 8; ++seed) variants.insert(to_pirate(story, {seed, 0.5}));
  EXPECT_GT(variants.size(), 1u);

  const std::string always = to_pirate("Hi. Bye!", {/*seed=*/3, /*interjection_rate=*/1.0});
  EXPECT_EQ(always.rfind("Ahoy. ", 0), 0u) << always;
  size_t sentences = 0;
  for (const char* word : {"Arr!", "Yo ho ho!", "Shiver me timbers!", "Blimey!", "Arrr, matey!"}) {
    for (size_t at = always.find(word); at != std::string::npos; at = always.find(word, at + 1)) ++sentences;
  }
  EXPECT_EQ(sentences, 2u) << always;
}

TEST(Pirate, ScoreCountsMarkersPerWord) {
  EXPECT_DOUBLE_EQ(pirate_score(""), 0.0);
  EXPECT_DOUBLE_EQ(pirate_score("Ahoy matey!"), 1.0);
  EXPECT_DOUBLE_EQ(pirate_score("Th' lad be sailin' home"), 0.8);  // th', lad, be, sailin' of 5 words
  EXPECT_DOUBLE_EQ(pirate_score("'Ahoy,' said the cat."), 0.25);    // quotes around a word do not hide it
  const std::string english =
      "Once upon a time, a little girl named Lily was playing with her friend in the park. "
      "They were very happy and they shared their money to buy food.";
  const std::string pirate = to_pirate(english, kNoInterjections);
  std::cout << "[pirate] score " << pirate_score(english) << " -> " << pirate_score(pirate) << ": " << pirate << "\n";
  EXPECT_LT(pirate_score(english), 0.05);
  EXPECT_GT(pirate_score(pirate), 0.2);
}

TEST(Pirate, DollyGeneratorFeedsPrepare) {
  auto dir = test::scratch_dir("dolly");
  std::vector<std::string> stories;
  for (int i = 0; i < 40; ++i) {
    stories.push_back("Once upon a time, there was a little girl named Lily" + std::to_string(i) +
                      ". She was playing by the sea with her friend. They found treasure and were happy.");
  }
  stories.push_back("The boy and his dog went to the market. They bought food.");
  tutorial::write_pirate_dolly((dir / "pirate.jsonl").string(), stories, /*seed=*/11);
  tutorial::write_pirate_dolly((dir / "again.jsonl").string(), stories, /*seed=*/11);
  EXPECT_EQ(test::read_bytes(dir / "pirate.jsonl"), test::read_bytes(dir / "again.jsonl"));

  const auto lines = test::read_lines(dir / "pirate.jsonl");
  ASSERT_EQ(lines.size(), stories.size());
  std::set<std::string> categories, instructions;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto record = nlohmann::ordered_json::parse(lines[i]);
    categories.insert(record["category"].get<std::string>());
    instructions.insert(record["instruction"].get<std::string>());
    const std::string response = record["response"];
    EXPECT_GT(pirate_score(response), 0.15) << response;
    const std::string context = record["context"];
    EXPECT_TRUE(context.empty() || context == stories[i]);
  }
  EXPECT_EQ(categories, (std::set<std::string>{"creative_writing", "open_qa", "brainstorming"}));
  EXPECT_GE(instructions.size(), 8u);

  data::PrepareOptions options;
  options.input = (dir / "pirate.jsonl").string();
  options.out_dir = (dir / "data").string();
  auto report = data::prepare_dataset(options);
  EXPECT_EQ(report.format, data::RecordFormat::dolly);
  EXPECT_EQ(report.train + report.valid, stories.size());
  EXPECT_EQ(data::load_datasets(options.out_dir, true, false).valid.size(), report.valid);
}

}  // namespace
}  // namespace flotilla
