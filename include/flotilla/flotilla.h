// Flotilla's public C++ API: everything a program needs to prepare data, fine-tune, fuse, convert
// and generate, without the library's internal headers. Link flotilla::flotilla.
#pragma once
#include "flotilla/chat_template.h"
#include "flotilla/convert.h"
#include "flotilla/dataset_formats.h"
#include "flotilla/fine_tune.h"
#include "flotilla/fuse.h"
#include "flotilla/generate.h"
#include "flotilla/model.h"
#include "flotilla/prepare.h"
#include "flotilla/sampling.h"
#include "flotilla/tokenizer.h"
#include "flotilla/training_reports.h"
