#include "tokenizer/sentencepiece_tokenizer.h"

#include <dlfcn.h>
#include <sentencepiece_processor.h>

#include <new>

#include "core/error.h"


namespace flotilla {

namespace {

using sentencepiece::SentencePieceProcessor;
using sentencepiece::util::Status;

// Debian's libsentencepiece carries its own protobuf (3.14) and exports it, while libtorch loads
// libprotobuf 3.21. Linked normally, sentencepiece's protobuf calls bind to 3.21 and its version
// check aborts the load. Opened with RTLD_DEEPBIND it binds to its own copy instead. So this file
// references no sentencepiece symbol (the linker's --as-needed then leaves the library out): the
// members it calls are virtual (reached through the vtable), the rest comes from dlsym.
struct Library {
  void (*construct)(void* processor);        // SentencePieceProcessor::SentencePieceProcessor()
  void (*destroy_status)(Status* status);    // Status::~Status()
  std::string (*status_text)(const Status*);  // Status::ToString() const
};

constexpr const char* kLibrary = "libsentencepiece.so.0";

template <typename Function>
Function symbol(void* handle, const char* name) {
  void* address = dlsym(handle, name);
  if (address == nullptr) fail("tokenizer", "{} lacks {}: {}", kLibrary, name, dlerror());
  return reinterpret_cast<Function>(address);
}

Library open_library() {
  if (void* loaded = dlopen(kLibrary, RTLD_NOW | RTLD_NOLOAD)) {
    dlclose(loaded);
    fail("tokenizer", "{} is already linked into this program, where its protobuf 3.14 clashes with libtorch's "
         "protobuf; it must only be opened by SentencePieceTokenizer (link with --as-needed, no sanitizers)", kLibrary);
  }
  void* handle = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (handle == nullptr) fail("tokenizer", "cannot open {}: {}", kLibrary, dlerror());
  return {symbol<void (*)(void*)>(handle, "_ZN13sentencepiece22SentencePieceProcessorC1Ev"),
          symbol<void (*)(Status*)>(handle, "_ZN13sentencepiece4util6StatusD1Ev"),
          symbol<std::string (*)(const Status*)>(handle, "_ZNK13sentencepiece4util6Status8ToStringB5cxx11Ev")};
}

const Library& library() {
  static const Library instance = open_library();
  return instance;
}

// Runs a Status-returning member and gives its error text ("" when ok). The Status lives in raw
// storage so that only the library's own destructor touches it.
template <typename Call>
std::string error_of(Call call) {
  const Library& lib = library();
  alignas(Status) unsigned char storage[sizeof(Status)];
  Status* status = new (storage) Status(call());
  const std::string message = status->ok() ? "" : lib.status_text(status);
  lib.destroy_status(status);
  return message;
}

}  // namespace

struct SentencePieceTokenizer::Impl {
  SentencePieceProcessor* processor = nullptr;
  std::string path;
  ~Impl() { delete processor; }  // virtual destructor: inside the library
};

SentencePieceTokenizer SentencePieceTokenizer::from_file(const std::string& model_path) {
  const Library& lib = library();
  auto impl = std::make_shared<Impl>();
  impl->path = model_path;
  void* memory = ::operator new(sizeof(SentencePieceProcessor));
  try {
    lib.construct(memory);
  } catch (...) {
    ::operator delete(memory);
    throw;
  }
  impl->processor = static_cast<SentencePieceProcessor*>(memory);

  std::string message;
  try {
    message = error_of([&] { return impl->processor->Load(model_path); });
  } catch (const std::exception& error) {
    message = error.what();
  }
  if (!message.empty()) fail("tokenizer", "cannot load SentencePiece model '{}': {}", model_path, message);
  return SentencePieceTokenizer(std::move(impl));
}

std::vector<int64_t> SentencePieceTokenizer::encode(const std::string& text, bool add_bos, bool add_eos) const {
  std::vector<int> pieces;
  const std::string message = error_of([&] { return impl_->processor->Encode(text, &pieces); });
  if (!message.empty()) fail("tokenizer", "SentencePiece encode failed ('{}'): {}", impl_->path, message);
  std::vector<int64_t> ids;
  ids.reserve(pieces.size() + 2);
  if (add_bos) {
    if (!bos_id()) fail("tokenizer", "'{}' has no bos piece", impl_->path);
    ids.push_back(*bos_id());
  }
  ids.insert(ids.end(), pieces.begin(), pieces.end());
  if (add_eos) {
    if (!eos_id()) fail("tokenizer", "'{}' has no eos piece", impl_->path);
    ids.push_back(*eos_id());
  }
  return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> pieces;
  pieces.reserve(ids.size());
  for (const int64_t id : ids) {
    if (id < 0 || id >= vocab_size()) fail("tokenizer", "id {} is outside the vocab of size {}", id, vocab_size());
    pieces.push_back(static_cast<int>(id));
  }
  std::string text;
  const std::string message = error_of([&] { return impl_->processor->Decode(pieces, &text); });
  if (!message.empty()) fail("tokenizer", "SentencePiece decode failed ('{}'): {}", impl_->path, message);
  return text;
}

std::optional<int64_t> SentencePieceTokenizer::bos_id() const {
  const int id = impl_->processor->bos_id();
  return id < 0 ? std::nullopt : std::optional<int64_t>(id);
}

std::optional<int64_t> SentencePieceTokenizer::eos_id() const {
  const int id = impl_->processor->eos_id();
  return id < 0 ? std::nullopt : std::optional<int64_t>(id);
}

int64_t SentencePieceTokenizer::vocab_size() const { return impl_->processor->GetPieceSize(); }

std::optional<int64_t> SentencePieceTokenizer::token_to_id(const std::string& piece) const {
  const int id = impl_->processor->PieceToId(piece);
  // Unknown pieces map to unk; only the unk piece itself may legitimately get that id.
  if (impl_->processor->IsUnknown(id) && impl_->processor->IdToPiece(id) != piece) return std::nullopt;
  return id;
}

std::string SentencePieceTokenizer::id_to_token(int64_t id) const {
  if (id < 0 || id >= vocab_size()) fail("tokenizer", "id {} is outside the vocab of size {}", id, vocab_size());
  return impl_->processor->IdToPiece(static_cast<int>(id));
}

}  // namespace flotilla
