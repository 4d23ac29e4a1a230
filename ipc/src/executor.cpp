// ProcessPoolExecutor: construction and shutdown over the pool machinery (pool.cpp).
#include <ipc/executor.hpp>

#include <limits>

namespace ipc {

ProcessPoolExecutor::ProcessPoolExecutor(std::size_t max_workers, std::function<void()> initializer,
                                         std::size_t max_tasks_per_child)
    : m_core(detail::pool_create(max_workers, std::move(initializer), max_tasks_per_child)) {}

ProcessPoolExecutor::~ProcessPoolExecutor() {
  try {
    shutdown(true);
  } catch (...) {
  }
  detail::pool_terminate(*m_core);  // reaps whatever is left (nothing after a clean shutdown)
}

void ProcessPoolExecutor::shutdown(bool wait, bool cancel_futures) {
  if (cancel_futures) detail::pool_cancel(*m_core, 0, std::numeric_limits<std::size_t>::max(), false);
  detail::pool_close(*m_core);
  if (wait) detail::pool_join(*m_core, {});
}

}  // namespace ipc
