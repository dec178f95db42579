// The trainer's only view of other processes: sums and broadcasts over a group of ranks.
// Implementations: one process (no-ops), MPI. The trainer never calls MPI directly.
#pragma once
#include <ATen/Tensor.h>

#include <memory>
#include <string>

namespace flotilla::distributed {

// A sum over ranks in flight: the tensor holds the result once done() or wait() says so.
class PendingSum {
 public:
  virtual ~PendingSum() = default;
  virtual bool done() = 0;  // also lets the transfer progress (MPI moves data inside its calls)
  virtual void wait() = 0;
};

// How long a rank waits in a collective for the others before it names the silent ones and ends
// the job (--collective-timeout); 0 waits forever.
inline constexpr double kDefaultCollectiveTimeoutSeconds = 300;

class Group {
 public:
  virtual ~Group() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In place: every rank ends with the element-wise sum over ranks. CPU, contiguous tensors.
  // Float tensors of any precision (bfloat16 included), int32/int64.
  virtual void all_sum(at::Tensor& tensor) = 0;
  // The same sum without waiting for it; the tensor must stay alive and untouched until done.
  // Every rank must start its sums in the same order.
  virtual std::unique_ptr<PendingSum> start_all_sum(at::Tensor& tensor) = 0;
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  virtual void barrier() = 0;
  virtual void set_collective_timeout(double seconds) = 0;
  // Ends every rank at once with this exit code, after an error that only this rank saw
  // (the others would otherwise wait for it forever). Returns only for one process.
  virtual void abort(int exit_code) = 0;
  virtual std::string describe() const = 0;  // "Distributed mode: rank r of N" or the single-process line
};

std::unique_ptr<Group> make_single_process_group();

// MPI when this process was started by mpirun/srun (and MPI support is built), else one process.
std::unique_ptr<Group> init_group();

}  // namespace flotilla::distributed
