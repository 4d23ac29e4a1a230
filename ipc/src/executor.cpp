// ProcessPoolExecutor: construction and shutdown over the pool machinery (pool.cpp).
#include <ipc/executor.hpp>

#include <limits>

namespace ipc {

ProcessPoolExecutor::ProcessPoolExecutor(std::size_t max_workers, std::function<void()> initializer,
                                         std::size_t max_tasks_per_child)
    : m_core(detail::pool_create(max_workers, std::move(initializer), max_tasks_per_child)) {}

ProcessPoolExecutor::~ProcessPoolExecutor() {
  if (detail::pool_on_own_thread(*m_core)) {
    // From a done callback: waiting here would wait for this very thread. The pool thread
    // keeps the machinery alive, finishes the submitted tasks, then lets its workers exit.
    detail::pool_close(*m_core);
    return;
  }
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
