#include <ATen/ATen.h>

#include <cstdlib>

#include "core/error.h"
#include "distributed/group.h"

#ifdef FLOTILLA_WITH_MPI
#include <mpi.h>
#endif

namespace flotilla {

namespace {

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", "SLURM_PROCID"}) {
    if (std::getenv(name)) return true;
  }
  return false;
}

#ifdef FLOTILLA_WITH_MPI

MPI_Datatype mpi_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kLong: return MPI_INT64_T;
    case at::kInt: return MPI_INT32_T;
    default: fail("mpi", "all_sum of {} tensors is not supported", at::toString(t.scalar_type()));
  }
}

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("mpi", "{} failed: {}", what, std::string(text, length));
}

class MpiGroup : public Group {
 public:
  MpiGroup() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) check(MPI_Init(nullptr, nullptr), "MPI_Init");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiGroup() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_sum(at::Tensor& t) override {
    if (!t.is_contiguous() || !t.device().is_cpu()) fail("mpi", "all_sum needs a contiguous CPU tensor");
    check(MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
  }
  void broadcast(at::Tensor& t, int root) override {
    if (!t.is_contiguous() || !t.device().is_cpu()) fail("mpi", "broadcast needs a contiguous CPU tensor");
    check(MPI_Bcast(t.data_ptr(), static_cast<int>(t.nbytes()), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  std::string describe() const override {
    return "Distributed mode: rank " + std::to_string(rank_) + " of " + std::to_string(size_);
  }

 private:
  int rank_ = 0, size_ = 1;
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

}  // namespace flotilla
