#include <ATen/ATen.h>

#include <cstdlib>
#include <exception>
#include <limits>
#include <optional>

#include "core/error.h"
#include "distributed/group.h"
#include "distributed/mpi_watchdog.h"

namespace flotilla::distributed {

namespace {

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", "SLURM_PROCID"}) {
    if (std::getenv(name)) return true;
  }
  return false;
}

#ifdef FLOTILLA_WITH_MPI

// MPI has no bfloat16: a 2-byte type with a sum that adds in float32 and rounds once.
void bfloat16_sum(void* in, void* inout, int* length, MPI_Datatype*) {
  const auto* a = static_cast<const c10::BFloat16*>(in);
  auto* b = static_cast<c10::BFloat16*>(inout);
  for (int i = 0; i < *length; ++i) b[i] = c10::BFloat16(static_cast<float>(a[i]) + static_cast<float>(b[i]));
}

struct Reduction {
  MPI_Datatype type;
  MPI_Op op;
};

Reduction bfloat16_reduction{MPI_DATATYPE_NULL, MPI_OP_NULL};  // made on first use, freed before MPI_Finalize

Reduction sum_of(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return {MPI_FLOAT, MPI_SUM};
    case at::kDouble: return {MPI_DOUBLE, MPI_SUM};
    case at::kLong: return {MPI_INT64_T, MPI_SUM};
    case at::kInt: return {MPI_INT32_T, MPI_SUM};
    case at::kBFloat16: {
      if (bfloat16_reduction.op == MPI_OP_NULL) {
        MPI_Type_contiguous(2, MPI_BYTE, &bfloat16_reduction.type);
        MPI_Type_commit(&bfloat16_reduction.type);
        MPI_Op_create(&bfloat16_sum, /*commute=*/1, &bfloat16_reduction.op);
      }
      return bfloat16_reduction;
    }
    default: fail("mpi", "all_sum of {} tensors is not supported", at::toString(t.scalar_type()));
  }
}

// MPI counts are ints: `count` is what the call will pass (elements, or bytes for MPI_BYTE).
void check_buffer(const at::Tensor& t, int64_t count, const char* what) {
  if (!t.is_contiguous() || !t.device().is_cpu()) fail("mpi", "{} needs a contiguous CPU tensor", what);
  if (count > std::numeric_limits<int>::max()) fail("mpi", "{} of {} items is over MPI's int count", what, count);
}

class MpiPendingSum : public PendingSum {
 public:
  MpiPendingSum(MPI_Request request, CollectiveWatchdog& watchdog) : request_(request), watchdog_(watchdog) {}
  ~MpiPendingSum() override {
    // While an error unwinds, the other ranks may never join this sum: leave it to Group::abort.
    if (request_ != MPI_REQUEST_NULL && std::uncaught_exceptions() == 0) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  bool done() override {
    int flag = 0;
    if (request_ != MPI_REQUEST_NULL) check_mpi(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), "MPI_Test");
    return request_ == MPI_REQUEST_NULL;
  }
  void wait() override { watchdog_.wait(request_, "a sum over ranks"); }

 private:
  MPI_Request request_;
  CollectiveWatchdog& watchdog_;
};

class MpiGroup : public Group {
 public:
  MpiGroup() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) check_mpi(MPI_Init(nullptr, nullptr), "MPI_Init");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    watchdog_.emplace(rank_, size_);
  }
  void set_collective_timeout(double seconds) override { watchdog_->set_timeout(seconds); }
  void abort(int exit_code) override { MPI_Abort(MPI_COMM_WORLD, exit_code); }
  ~MpiGroup() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (bfloat16_reduction.op != MPI_OP_NULL) {
      MPI_Op_free(&bfloat16_reduction.op);
      MPI_Type_free(&bfloat16_reduction.type);
    }
    MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_sum(at::Tensor& t) override {
    start_all_sum(t)->wait();
  }
  std::unique_ptr<PendingSum> start_all_sum(at::Tensor& t) override {
    check_buffer(t, t.numel(), "start_all_sum");
    const auto sum = sum_of(t);
    MPI_Request request;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), sum.type, sum.op, MPI_COMM_WORLD,
                         &request),
          "MPI_Iallreduce");
    return std::make_unique<MpiPendingSum>(request, *watchdog_);
  }
  void broadcast(at::Tensor& t, int root) override {
    check_buffer(t, t.nbytes(), "broadcast");
    MPI_Request request;
    check_mpi(MPI_Ibcast(t.data_ptr(), static_cast<int>(t.nbytes()), MPI_BYTE, root, MPI_COMM_WORLD, &request), "MPI_Ibcast");
    watchdog_->wait(request, "a broadcast from rank " + std::to_string(root));
  }
  void barrier() override {
    MPI_Request request;
    check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &request), "MPI_Ibarrier");
    watchdog_->wait(request, "a barrier");
  }
  std::string describe() const override {
    return "Distributed mode: rank " + std::to_string(rank_) + " of " + std::to_string(size_);
  }

 private:
  int rank_ = 0, size_ = 1;
  std::optional<CollectiveWatchdog> watchdog_;
};

#endif

}  // namespace

std::unique_ptr<Group> init_group() {
#ifdef FLOTILLA_WITH_MPI
  if (launched_by_mpi()) return std::make_unique<MpiGroup>();
#else
  if (launched_by_mpi()) fail("mpi", "started under mpirun but this build has no MPI support (FLOTILLA_WITH_MPI=OFF)");
#endif
  return make_single_process_group();
}

}  // namespace flotilla::distributed
